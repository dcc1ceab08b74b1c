import { EventEmitter } from "node:events";
import type {
  Counters,
  EntityInfo,
  EntityState,
  GatewayEvents,
  GatewayInfo,
  GatewayView,
  MeterRef,
  SourceInfo,
  TelegramEvent,
} from "../../src/gateway/index.ts";

/**
 * TEST FIXTURE: a small, real, in-memory GatewayView for testing API adapters without the gateway
 * pipeline. It holds entities and latest states in maps and emits exactly the events the real
 * Gateway emits; tests drive it with `addEntities`, `publishState` and `publishTelegram`. It counts
 * clients and coalesced states like the real one, so adapters' bookkeeping can be asserted.
 */
export class MemoryView extends EventEmitter<GatewayEvents> implements GatewayView {
  readonly #entities = new Map<string, EntityInfo>();
  readonly #states = new Map<string, EntityState>();
  /** Sources reported by info(); tests may replace them. */
  sources: SourceInfo[] = [];
  /** Clients connected now, as reported by the adapter. */
  clients = 0;
  /** Highest `clients` seen, to check that streams were really open at once. */
  maxClients = 0;
  /** States (or telegrams) the adapter reported as never delivered. */
  coalesced = 0;
  /** Times clientDisconnected() was called while no client was connected (an adapter bug). */
  underflows = 0;

  constructor(
    readonly name = "test-gateway",
    readonly startedAtMs = Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  ) {
    super();
    // Like the real Gateway: every API stream adds its own listeners, so the default cap of 10 is no limit.
    this.setMaxListeners(0);
  }

  info(): GatewayInfo {
    return {
      name: this.name,
      version: "0.0.0-test",
      startedAtMs: this.startedAtMs,
      sources: this.sources,
      counters: { ...sumCounters(this.sources.map((s) => s.counters)), clients: this.clients },
    };
  }

  entities(sourceId?: string): readonly EntityInfo[] {
    const all = [...this.#entities.values()];
    return sourceId === undefined ? all : all.filter((e) => e.sourceId === sourceId);
  }

  states(sourceId?: string): readonly EntityState[] {
    const all = [...this.#states.values()];
    return sourceId === undefined
      ? all
      : all.filter((s) => this.#entities.get(s.entityId)?.sourceId === sourceId);
  }

  entity(id: string): EntityInfo | undefined {
    return this.#entities.get(id);
  }

  state(id: string): EntityState | undefined {
    return this.#states.get(id);
  }

  clientConnected(): void {
    this.clients++;
    this.maxClients = Math.max(this.maxClients, this.clients);
  }

  clientDisconnected(): void {
    if (this.clients === 0) this.underflows++;
    else this.clients--;
  }

  countCoalesced(n: number): void {
    this.coalesced += n;
  }

  /** Adds (or replaces) entities and announces them, as the gateway does when it discovers a meter. */
  addEntities(entities: readonly EntityInfo[]): void {
    for (const e of entities) this.#entities.set(e.id, e);
    this.emit("entities", entities);
  }

  /** Stores a state as the latest of its entity and emits it with its entity, as the gateway does. */
  publishState(state: EntityState): void {
    const entity = this.#entities.get(state.entityId);
    if (entity === undefined) throw new Error(`MemoryView: no entity ${state.entityId} (add it first)`);
    this.#states.set(state.entityId, state);
    this.emit("state", state, entity);
  }

  /** Stores a state as the latest of its entity without emitting it (a state not yet announced). */
  storeState(state: EntityState): void {
    this.#states.set(state.entityId, state);
  }

  /** Emits a telegram event. */
  publishTelegram(event: TelegramEvent): void {
    this.emit("telegram", event);
  }
}

/** Zero counters. */
export function zeroCounters(): Counters {
  return {
    telegramsOk: 0,
    telegramsDropped: {},
    bytes: 0,
    skippedBytes: 0,
    reconnects: 0,
    openFailures: 0,
    fanoutReaders: 0,
    fanoutCutOff: 0,
    anomalies: 0,
    coalesced: 0,
    clients: 0,
  };
}

function sumCounters(list: readonly Counters[]): Counters {
  const dropped: Partial<Record<keyof Counters["telegramsDropped"], number>> = {};
  let sum = zeroCounters();
  for (const c of list) {
    for (const [code, n] of Object.entries(c.telegramsDropped) as [keyof typeof dropped, number][]) {
      dropped[code] = (dropped[code] ?? 0) + n;
    }
    sum = {
      ...sum,
      telegramsOk: sum.telegramsOk + c.telegramsOk,
      bytes: sum.bytes + c.bytes,
      skippedBytes: sum.skippedBytes + c.skippedBytes,
      reconnects: sum.reconnects + c.reconnects,
      openFailures: sum.openFailures + c.openFailures,
      fanoutReaders: sum.fanoutReaders + c.fanoutReaders,
      fanoutCutOff: sum.fanoutCutOff + c.fanoutCutOff,
      anomalies: sum.anomalies + c.anomalies,
      coalesced: sum.coalesced + c.coalesced,
    };
  }
  return { ...sum, telegramsDropped: dropped };
}

/** A meter of `sourceId` with an id built like the gateway's. */
export function makeMeter(
  sourceId: string,
  type: MeterRef["type"],
  channel: number,
  equipmentId: string | null,
): MeterRef {
  return {
    id: `${type}_${channel}_${(equipmentId ?? "unknown").toLowerCase()}`,
    sourceId,
    type,
    channel,
    equipmentId,
  };
}

/** A numeric entity of `meter` (kWh register unless overridden). */
export function makeEntity(meter: MeterRef, channelName: string, over: Partial<EntityInfo> = {}): EntityInfo {
  return {
    id: `${meter.id}_${channelName}`,
    sourceId: meter.sourceId,
    meter,
    name: channelName.replace(/_/g, " "),
    obis: "1-0:1.8.1",
    channelName,
    kind: "number",
    unit: "kWh",
    deviceClass: "energy",
    stateClass: "total_increasing",
    diagnostic: false,
    decimals: 3,
    ...over,
  };
}

/** An available numeric state received at `receivedAtMs`. */
export function numberState(entityId: string, value: number, receivedAtMs = 1_700_000_000_000): EntityState {
  return {
    entityId,
    value,
    text: value.toFixed(3).padStart(10, "0"),
    timestamp: "2023-06-15T14:30:05+02:00",
    receivedAtMs,
    available: true,
  };
}
