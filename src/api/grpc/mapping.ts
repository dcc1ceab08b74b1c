import type {
  Counters,
  EntityInfo,
  EntityState,
  GatewayInfo,
  LinkState,
  MeterRef,
  SourceInfo,
  TelegramEvent,
} from "../../gateway/types.ts";
import type { MeterKind } from "../../meters/index.ts";

// The parsed telegram's shapes, reached through the gateway's public types: the API may not import
// src/dsmr (STYLE.md dependency table), and these stay in step with the parser by construction.
type Telegram = TelegramEvent["telegram"];
type CosemObject = Telegram["objects"][number];
type Value = CosemObject["value"];
type StateClass = NonNullable<EntityInfo["stateClass"]>;

// ---- Proto messages as the server builds them (proto-loader input: keepCase, enums as strings) ----
// They mirror proto/p1gateway/v1/gateway.proto; a field left out is sent as its proto3 default.

/** google.protobuf.Timestamp. */
export interface PbTimestamp {
  readonly seconds: number;
  readonly nanos: number;
}

/** p1gateway.v1.LinkState. */
export type PbLinkState = `LINK_STATE_${Uppercase<LinkState>}`;
/** p1gateway.v1.MeterType. */
export type PbMeterType = `METER_TYPE_${Uppercase<MeterKind>}`;
/** p1gateway.v1.StateClass. */
export type PbStateClass = "STATE_CLASS_UNSPECIFIED" | `STATE_CLASS_${Uppercase<StateClass>}`;
/** p1gateway.v1.EntityKind. */
export type PbEntityKind = "ENTITY_KIND_NUMBER" | "ENTITY_KIND_TEXT";
/** p1gateway.v1.CrcStatus. */
export type PbCrcStatus = "CRC_STATUS_VALID" | "CRC_STATUS_ABSENT";

/** p1gateway.v1.Counters. */
export interface PbCounters {
  readonly telegrams_ok: number;
  readonly telegrams_dropped: Readonly<Record<string, number>>;
  readonly bytes: number;
  readonly skipped_bytes: number;
  readonly reconnects: number;
  readonly open_failures: number;
  readonly fanout_readers: number;
  readonly fanout_cut_off: number;
  readonly anomalies: number;
  readonly coalesced: number;
  readonly clients: number;
}

/** p1gateway.v1.Meter. */
export interface PbMeter {
  readonly id: string;
  readonly source_id: string;
  readonly type: PbMeterType;
  readonly channel: number;
  readonly equipment_id: string;
}

/** p1gateway.v1.Source. */
export interface PbSource {
  readonly id: string;
  readonly description: string;
  readonly link_state: PbLinkState;
  readonly protocol_version: string;
  readonly encrypted: boolean;
  readonly meters: readonly PbMeter[];
  readonly counters: PbCounters;
  readonly last_telegram_time: PbTimestamp | null;
}

/** p1gateway.v1.GatewayInfo. */
export interface PbGatewayInfo {
  readonly name: string;
  readonly version: string;
  readonly started_time: PbTimestamp;
  readonly sources: readonly PbSource[];
  readonly counters: PbCounters;
}

/** p1gateway.v1.Entity. */
export interface PbEntity {
  readonly id: string;
  readonly name: string;
  readonly meter: PbMeter;
  readonly obis: string;
  readonly unit: string;
  readonly device_class: string;
  readonly state_class: PbStateClass;
  readonly channel_name: string;
  readonly kind: PbEntityKind;
  readonly diagnostic: boolean;
  readonly decimals: number;
  readonly source_id: string;
}

/** p1gateway.v1.ListEntitiesResponse. */
export interface PbListEntitiesResponse {
  readonly entities: readonly PbEntity[];
}

/** p1gateway.v1.EntityState; at most one of `number` and `text` (the `value` oneof). */
export interface PbEntityState {
  readonly entity_id: string;
  readonly number?: number;
  readonly text?: string;
  readonly raw: string;
  readonly meter_time: PbTimestamp | null;
  readonly meter_time_iso: string;
  readonly received_time: PbTimestamp;
  readonly available: boolean;
  readonly unit: string;
}

/** p1gateway.v1.MeterTime. */
export interface PbMeterTime {
  readonly time: PbTimestamp | null;
  readonly iso: string;
  readonly raw: string;
}

/** p1gateway.v1.PowerFailure. */
export interface PbPowerFailure {
  readonly end_time: PbMeterTime;
  readonly duration_s: number;
}

/** p1gateway.v1.PeakDemand. */
export interface PbPeakDemand {
  readonly month: PbMeterTime;
  readonly time: PbMeterTime;
  readonly value: number;
  readonly raw: string;
  readonly unit: string;
}

/** The `value` oneof of p1gateway.v1.CosemObject: exactly one case set. */
export type PbCosemValue =
  | { readonly number: number }
  | { readonly text: string }
  | { readonly timestamp: PbMeterTime }
  | { readonly power_failure_log: { readonly entries: readonly PbPowerFailure[] } }
  | { readonly peak_demand_history: { readonly entries: readonly PbPeakDemand[] } }
  | { readonly raw_groups: { readonly groups: readonly string[] } };

/** p1gateway.v1.CosemObject. */
export type PbCosemObject = {
  readonly obis: string;
  readonly key: string;
  readonly channel: number;
  readonly channel_name: string;
  readonly name: string;
  readonly unit: string;
  readonly raw: string;
  readonly reading_time: PbMeterTime | null;
} & PbCosemValue;

/** p1gateway.v1.Telegram. */
export interface PbTelegram {
  readonly source_id: string;
  readonly raw: Buffer;
  readonly received_time: PbTimestamp;
  readonly version: string;
  readonly header: string;
  readonly crc: PbCrcStatus;
  readonly encrypted: boolean;
  readonly objects: readonly PbCosemObject[];
  readonly unknown_obis: readonly string[];
  readonly warnings: readonly string[];
}

// ---- Enum tables: a Record over the gateway's union fails to compile when a value is added there
// and not here (and in the .proto). ----

const LINK_STATES: Readonly<Record<LinkState, PbLinkState>> = {
  connecting: "LINK_STATE_CONNECTING",
  ok: "LINK_STATE_OK",
  stale: "LINK_STATE_STALE",
  disconnected: "LINK_STATE_DISCONNECTED",
};

const METER_TYPES: Readonly<Record<MeterKind, PbMeterType>> = {
  electricity: "METER_TYPE_ELECTRICITY",
  gas: "METER_TYPE_GAS",
  water: "METER_TYPE_WATER",
  heat: "METER_TYPE_HEAT",
  cooling: "METER_TYPE_COOLING",
  generic: "METER_TYPE_GENERIC",
};

const STATE_CLASSES: Readonly<Record<StateClass, PbStateClass>> = {
  measurement: "STATE_CLASS_MEASUREMENT",
  total_increasing: "STATE_CLASS_TOTAL_INCREASING",
};

const ENTITY_KINDS: Readonly<Record<EntityInfo["kind"], PbEntityKind>> = {
  number: "ENTITY_KIND_NUMBER",
  text: "ENTITY_KIND_TEXT",
};

const CRC_STATUSES: Readonly<Record<Telegram["crc"], PbCrcStatus>> = {
  valid: "CRC_STATUS_VALID",
  absent: "CRC_STATUS_ABSENT",
};

// ---- Times ----

/** A gateway clock time (ms since the epoch) as a google.protobuf.Timestamp. */
export function toTimestamp(ms: number): PbTimestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

// The last ISO text converted: a telegram's states share its timestamp, so each is parsed once.
let lastIso: string | null = null;
let lastIsoTimestamp: PbTimestamp | null = null;

/** An ISO 8601 time with offset as a Timestamp; null for null or an unparsable text. */
export function isoToTimestamp(iso: string | null): PbTimestamp | null {
  if (iso === null) return null;
  if (iso !== lastIso) {
    const ms = Date.parse(iso);
    lastIso = iso;
    lastIsoTimestamp = Number.isNaN(ms) ? null : toTimestamp(ms);
  }
  return lastIsoTimestamp;
}

function meterTime(iso: string | null, raw: string): PbMeterTime {
  const time = isoToTimestamp(iso);
  return { time, iso: time === null ? "" : (iso ?? ""), raw };
}

// ---- Gateway types -> messages ----

/** Counters as a p1gateway.v1.Counters. */
export function toCounters(c: Counters): PbCounters {
  const dropped: Record<string, number> = {};
  for (const [code, n] of Object.entries(c.telegramsDropped)) if (n !== undefined && n > 0) dropped[code] = n;
  return {
    telegrams_ok: c.telegramsOk,
    telegrams_dropped: dropped,
    bytes: c.bytes,
    skipped_bytes: c.skippedBytes,
    reconnects: c.reconnects,
    open_failures: c.openFailures,
    fanout_readers: c.fanoutReaders,
    fanout_cut_off: c.fanoutCutOff,
    anomalies: c.anomalies,
    coalesced: c.coalesced,
    clients: c.clients,
  };
}

/** A meter as a p1gateway.v1.Meter. */
export function toMeter(m: MeterRef): PbMeter {
  return {
    id: m.id,
    source_id: m.sourceId,
    type: METER_TYPES[m.type],
    channel: m.channel,
    equipment_id: m.equipmentId ?? "",
  };
}

function toSource(s: SourceInfo): PbSource {
  return {
    id: s.id,
    description: s.description,
    link_state: LINK_STATES[s.link],
    protocol_version: s.version ?? "",
    encrypted: s.encrypted,
    meters: s.meters.map(toMeter),
    counters: toCounters(s.counters),
    last_telegram_time: s.lastTelegramAtMs === null ? null : toTimestamp(s.lastTelegramAtMs),
  };
}

/**
 * The gateway's info as a p1gateway.v1.GatewayInfo. Field by field on purpose: whatever the view
 * might grow (keys included), only the fields named here ever reach a client.
 */
export function toGatewayInfo(info: GatewayInfo): PbGatewayInfo {
  return {
    name: info.name,
    version: info.version,
    started_time: toTimestamp(info.startedAtMs),
    sources: info.sources.map(toSource),
    counters: toCounters(info.counters),
  };
}

/** An entity's metadata as a p1gateway.v1.Entity. */
export function toEntity(e: EntityInfo): PbEntity {
  return {
    id: e.id,
    name: e.name,
    meter: toMeter(e.meter),
    obis: e.obis,
    unit: e.unit ?? "",
    device_class: e.deviceClass ?? "",
    state_class: e.stateClass === null ? "STATE_CLASS_UNSPECIFIED" : STATE_CLASSES[e.stateClass],
    channel_name: e.channelName,
    kind: ENTITY_KINDS[e.kind],
    diagnostic: e.diagnostic,
    decimals: e.decimals ?? 0,
    source_id: e.sourceId,
  };
}

/** EntityState.raw: the digits as the meter wrote them, for numbers; empty otherwise. */
export function stateRaw(s: EntityState): string {
  return typeof s.value === "number" ? (s.text ?? "") : "";
}

/** EntityState.meter_time_iso: the meter's text, empty when it did not parse (meter_time unset). */
export function stateMeterTimeIso(s: EntityState, meterTime: PbTimestamp | null): string {
  return meterTime === null ? "" : (s.timestamp ?? "");
}

/** A state as a p1gateway.v1.EntityState; `unit` comes from the entity's metadata when known. */
export function toEntityState(s: EntityState, unit: string | null): PbEntityState {
  const meterTimeTs = isoToTimestamp(s.timestamp);
  const base = {
    entity_id: s.entityId,
    raw: stateRaw(s),
    meter_time: meterTimeTs,
    meter_time_iso: stateMeterTimeIso(s, meterTimeTs),
    received_time: toTimestamp(s.receivedAtMs),
    available: s.available,
    unit: unit ?? "",
  };
  if (typeof s.value === "number") return { ...base, number: s.value };
  if (typeof s.value === "string") return { ...base, text: s.value };
  return base;
}

// One case per Value kind: the parser's value model, not a switch on protocol facts.
function cosemValue(v: Value): { value: PbCosemValue; raw: string; readingTime: PbMeterTime | null } {
  switch (v.kind) {
    case "decimal":
      return { value: { number: v.value }, raw: v.text, readingTime: null };
    case "reading":
      return { value: { number: v.value }, raw: v.text, readingTime: meterTime(v.timestamp, v.rawTimestamp) };
    case "text":
      return { value: { text: v.value }, raw: v.raw, readingTime: null };
    case "timestamp":
      return { value: { timestamp: meterTime(v.value, v.raw) }, raw: v.raw, readingTime: null };
    case "failureLog":
      return {
        value: {
          power_failure_log: {
            entries: v.entries.map((e) => ({
              end_time: meterTime(e.timestamp, ""),
              duration_s: e.durationS,
            })),
          },
        },
        raw: "",
        readingTime: null,
      };
    case "peakHistory":
      return {
        value: {
          peak_demand_history: {
            entries: v.entries.map((e) => ({
              month: meterTime(e.month, ""),
              time: meterTime(e.timestamp, ""),
              value: e.value,
              raw: e.text,
              unit: e.unit ?? "",
            })),
          },
        },
        raw: "",
        readingTime: null,
      };
    case "raw":
      return { value: { raw_groups: { groups: v.values } }, raw: "", readingTime: null };
  }
}

function unitOf(o: CosemObject): string {
  const v = o.value;
  if (v.kind === "decimal" || v.kind === "reading") return v.unit ?? "";
  if (v.kind === "peakHistory") return v.entries[0]?.unit ?? o.def?.unit ?? "";
  return "";
}

/** One parsed object as a p1gateway.v1.CosemObject. */
export function toCosemObject(o: CosemObject): PbCosemObject {
  const { value, raw, readingTime } = cosemValue(o.value);
  return {
    obis: o.obis,
    key: o.key,
    channel: o.channel,
    channel_name: o.def?.id ?? "",
    name: o.def?.name ?? "",
    unit: unitOf(o),
    raw,
    reading_time: readingTime,
    ...value,
  };
}

/** A telegram event as a p1gateway.v1.Telegram: the raw bytes untouched plus the parsed form. */
export function toTelegram(t: TelegramEvent): PbTelegram {
  return {
    source_id: t.sourceId,
    raw: t.raw,
    received_time: toTimestamp(t.receivedAtMs),
    version: t.telegram.version ?? "",
    header: t.telegram.header,
    crc: CRC_STATUSES[t.telegram.crc],
    encrypted: t.encrypted,
    objects: t.telegram.objects.map(toCosemObject),
    unknown_obis: t.telegram.unknown,
    warnings: t.telegram.warnings,
  };
}
