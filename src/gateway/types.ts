import type { EventEmitter } from "node:events";
import type { DeviceClass, StateClass, Telegram, VersionName } from "../dsmr/index.ts";
import type { MeterKind } from "../meters/index.ts";
import type { ErrorCode } from "../shared/index.ts";

/** What API adapters (gRPC, native API, CLI) see of the gateway: read-only state plus events. */

/** A meter of one source, as discovered in its telegrams. */
export interface MeterRef {
  /** Stable id: `${type}_${channel}_${equipment}` (`electricity_0_e0012345`, `gas_1_g0034`). */
  readonly id: string;
  readonly sourceId: string;
  readonly type: MeterKind;
  /** 0 for the main meter, 1–4 for M-Bus sub-meters. */
  readonly channel: number;
  readonly equipmentId: string | null;
}

/** The kind of value an entity carries. */
export type EntityValueKind = "number" | "text";

/** One value a meter exposes: metadata that does not change between telegrams. */
export interface EntityInfo {
  /** Stable across restarts: `${meter.id}_${channel name}`, snake_case. */
  readonly id: string;
  readonly sourceId: string;
  readonly meter: MeterRef;
  /** Human-readable name ("Electricity delivered tariff 1"). */
  readonly name: string;
  /** OBIS reference as written in the telegram (M-Bus objects with their real channel). */
  readonly obis: string;
  /** The channel name from the spec tables (`emeter_delivery_tariff1`). */
  readonly channelName: string;
  readonly kind: EntityValueKind;
  readonly unit: string | null;
  readonly deviceClass: DeviceClass | null;
  readonly stateClass: StateClass | null;
  /** Meter information rather than a measurement (Home Assistant's diagnostic category). */
  readonly diagnostic: boolean;
  /** Decimals the meter writes (for display and float precision); null for text. */
  readonly decimals: number | null;
}

/** The state of one entity at one moment. */
export interface EntityState {
  readonly entityId: string;
  /** Number for `number` entities, string for `text`; null while unavailable or not yet known. */
  readonly value: number | string | null;
  /** The value exactly as the meter wrote it (digits kept), when it is a number. */
  readonly text: string | null;
  /** The meter's own timestamp for this value (ISO 8601 with offset), when the telegram has one. */
  readonly timestamp: string | null;
  /** When the gateway received the telegram (ms since the epoch, from the gateway's clock). */
  readonly receivedAtMs: number;
  readonly available: boolean;
}

/** Health of one source's link. */
export type LinkState = "connecting" | "ok" | "stale" | "disconnected";

/** Why telegrams or bytes were dropped, with counts: every telegram is accounted for. */
export interface Counters {
  readonly telegramsOk: number;
  readonly telegramsDropped: Readonly<Partial<Record<ErrorCode, number>>>;
  readonly bytes: number;
  /** Bytes skipped between frames (noise, garbage). */
  readonly skippedBytes: number;
  readonly reconnects: number;
  /**
   * Attempts to open the link that failed (a missing device retried every second counts each time); the
   * log says each distinct failure once, this counts them all.
   */
  readonly openFailures: number;
  /** Readers of the raw fan-out connected now. */
  readonly fanoutReaders: number;
  /** Fan-out readers disconnected because they fell too far behind (never slowing the source). */
  readonly fanoutCutOff: number;
  /** Energy readings lower than the last one, held back. */
  readonly anomalies: number;
  /** States a slow client never saw because a newer state of the same entity replaced it. */
  readonly coalesced: number;
  readonly clients: number;
}

/** One source of the gateway and what it found. */
export interface SourceInfo {
  readonly id: string;
  /** Where bytes come from, keys redacted: `serial:/dev/ttyUSB0`, `tcp:10.0.0.5:2001`, `simulator:5.0`. */
  readonly description: string;
  readonly link: LinkState;
  readonly version: VersionName | null;
  readonly encrypted: boolean;
  readonly meters: readonly MeterRef[];
  readonly counters: Counters;
  /** ms since the epoch of the last valid telegram, or null. */
  readonly lastTelegramAtMs: number | null;
}

/** The gateway as a whole. */
export interface GatewayInfo {
  readonly name: string;
  readonly version: string;
  readonly startedAtMs: number;
  readonly sources: readonly SourceInfo[];
  /** Sum over the sources (clients counted once). */
  readonly counters: Counters;
}

/** A telegram as it arrived, for raw-stream consumers. */
export interface TelegramEvent {
  readonly sourceId: string;
  readonly receivedAtMs: number;
  readonly raw: Buffer;
  readonly telegram: Telegram;
  readonly encrypted: boolean;
}

/** Events the gateway emits; adapters subscribe and must not block. */
export interface GatewayEvents {
  /**
   * A published state (after refresh-rate throttling); also sent when an entity becomes unavailable.
   * With its entity, so adapters need not look it up (a lookup per state in the map of every entity
   * cost more than the rest of a state's fan-out at thousands of meters).
   */
  state: [state: EntityState, entity: EntityInfo];
  /** New entities appeared (a meter was discovered or swapped); always before their first `state`. */
  entities: [readonly EntityInfo[]];
  telegram: [TelegramEvent];
  link: [sourceId: string, state: LinkState];
}

/** Read side of the gateway, all an adapter may use. */
export interface GatewayView extends EventEmitter<GatewayEvents> {
  /**
   * Name, version, sources and counters; with `sourceId`, a view may return only that source (and its
   * counters as the totals), so a per-source adapter of a gateway with thousands of meters pays for one.
   */
  info(sourceId?: string): GatewayInfo;
  /** Every entity; with `sourceId`, only that source's (an adapter of one source pays for one). */
  entities(sourceId?: string): readonly EntityInfo[];
  /** Latest state per entity (only entities with a state); with `sourceId`, only that source's. */
  states(sourceId?: string): readonly EntityState[];
  /** One entity by id, in constant time (adapters look one up per state). */
  entity(id: string): EntityInfo | undefined;
  /** The latest published state of one entity. */
  state(id: string): EntityState | undefined;
  /** Adapters report their connected clients and coalesced states here, for the counters. */
  clientConnected(): void;
  clientDisconnected(): void;
  countCoalesced(n: number): void;
}

/** A telegram or frame as kept for diagnostics: identifiers masked, never a key. */
export interface DiagnosticTelegram {
  readonly sourceId: string;
  readonly receivedAtMs: number;
  /** "OK", or the code it was dropped with. */
  readonly outcome: "OK" | ErrorCode;
  readonly encrypted: boolean;
  /**
   * The telegram text (decrypted, for encrypted meters) with identifiers masked and bytes outside
   * printable ASCII written as \xNN; null when there is none (a frame that did not decrypt).
   */
  readonly text: string | null;
  /** Header of an encrypted frame as hex, the system title masked; null for plaintext telegrams. */
  readonly frameHeader: string | null;
  /** Bytes of the frame as received. */
  readonly bytes: number;
  /** Values masked in `text` (its CRC no longer matches when > 0). */
  readonly maskedValues: number;
}
