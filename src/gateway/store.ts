import {
  type CosemObject,
  type ObjectDef,
  objectSerial,
  type Telegram,
  timeCode,
  timeText,
} from "../dsmr/index.ts";
import {
  belongsTo,
  describeEntity,
  discoverMeters,
  type EntityDescription,
  type EntityValue,
  type EntityValueSlot,
  type Meter,
  meterEntities,
  meterId,
  readEntityValue,
  telegramTime,
} from "../meters/index.ts";
import { ownString } from "../shared/index.ts";
import { digitsShape, digitsText, NO_DIGITS, OTHER_DIGITS } from "./compact.ts";
import type { EntityInfo, EntityState, MeterRef } from "./types.ts";

/** What a throttled measurement publishes for its period. */
export type Aggregate = "last" | "mean" | "min" | "max";

/** How often a meter's entities publish (the seed binding's per-meter `refresh`). */
export interface MeterPolicy {
  /** Seconds between published states; 0 publishes every telegram. */
  readonly refreshRateS: number;
  /** For measurements (power, current, voltage): the period's mean, min or max instead of its last value. */
  readonly aggregate: Aggregate;
}

/** The refresh policy of a meter (from the configuration). */
export type PolicyFor = (meter: MeterRef) => MeterPolicy;

/** Publish every telegram: the default. */
export const EVERY_TELEGRAM: MeterPolicy = { refreshRateS: 0, aggregate: "last" };

/**
 * A register that drops and then stays lower for this many telegrams in a row is a real reset (a replaced
 * or reprogrammed meter); fewer is a glitch and the higher value is held.
 */
const RESET_CONFIRMATIONS = 3;

/**
 * Meters kept per source. A swapped meter's entities stay listed (unavailable) so clients see what
 * happened; beyond this the oldest retired meters are forgotten, so a stream of changing ids (a broken
 * meter, a fuzzer) cannot grow memory.
 */
const MAX_METERS_PER_SOURCE = 16;

/** States to publish, each with its entity (at the same index). */
export interface Published {
  readonly states: readonly EntityState[];
  readonly stateEntities: readonly EntityInfo[];
}

/** Published as the store fills it in. */
interface Publishing {
  states: EntityState[];
  stateEntities: EntityInfo[];
}

/**
 * What one telegram changed: its states (in telegram order: values that changed or became available
 * only) and more.
 */
export interface Ingested extends Published {
  readonly newEntities: readonly EntityInfo[];
  /** Registers that went backwards in this telegram (held, not published). */
  readonly anomalies: readonly string[];
  /** Registers whose drop was confirmed as a reset in this telegram. */
  readonly resets: readonly string[];
  /** Meters whose equipment id changed on their channel (old meter retired). */
  readonly swaps: readonly { readonly from: MeterRef; readonly to: MeterRef }[];
}

interface Window {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/**
 * One entity and its latest state, kept as fields of the record and changed in place: a new state object
 * per change would live until the meter's next telegram (a second), long enough for the GC to promote it,
 * and at thousands of meters those objects filled the old generation with megabytes a second of garbage.
 * The states the store hands out (published, or asked for) are new objects built from these fields, never
 * kept and never changed afterwards. Numbers that are absent are NaN (or -Infinity, where a comparison
 * then needs no null check) rather than null: a field that only ever holds numbers keeps one number box
 * that V8 writes into, where a field that may hold null gets a new number allocated per telegram. For the
 * same reason the state's texts are kept as numbers where they can be (see compact.ts): the digits as
 * their shape, ISO times as their code; only a text of another form is kept as a string.
 */
interface EntityRecord {
  readonly info: EntityInfo;
  /** Whether a state was ever published. */
  hasState: boolean;
  available: boolean;
  /** The value when it is a number (NaN otherwise). */
  number: number;
  /** The value when it is an ISO time (its timeCode; NaN otherwise). */
  stringTime: number;
  /** The value when it is another text; null when it is a number or a time (or unavailable). */
  string: string | null;
  /** The state's text as the digits of `number` (digitsShape), or NO_DIGITS, or OTHER_DIGITS: in textString. */
  textShape: number;
  textString: string | null;
  /**
   * The meter's timestamp (its timeCode, or NaN and then the text or null in timestampString) and the
   * gateway's time of the latest telegram with this value: the published one, or the one that repeated
   * it since (a repeated value is not published, but states() shows it).
   */
  timestampTime: number;
  timestampString: string | null;
  /** Also when the value was last published or repeated: a refresh period runs from it. */
  receivedAtMs: number;
  window: Window | null;
  /** For registers: the highest value accepted (-Infinity before the first), and a pending lower run. */
  held: number;
  lowerRun: { count: number; last: number } | null;
  /** The OBIS key and definition of the object read into this entity in the meter's last telegram. */
  objectKey: string;
  def: ObjectDef | undefined;
  /**
   * The parser's serial of the object whose value, text and own timestamp the record holds as its
   * current state (-1: none, or the record's state is not simply that object's; see #update): the same
   * object in the next telegram changes only the times (see repeated).
   */
  serial: number;
  /** Whether that object carried its own timestamp (else the telegram's time is the state's). */
  ownTimestamp: boolean;
}

/**
 * A state as the store hands it out, made by a class rather than an object literal: V8 decides per
 * literal whether to allocate its objects straight in the old generation, from how many survived a
 * scavenge. The first telegrams of a meter publish every value at once, and in about one process in
 * ten (3,000 meters through decoder and store, the bench) that made it decide so for the states'
 * literal: from then on every state of every telegram, ~900 B a telegram, went to the old generation
 * as garbage for full GCs. A class's objects are never pretenured that way.
 */
class State implements EntityState {
  constructor(
    readonly entityId: string,
    readonly value: number | string | null,
    readonly text: string | null,
    readonly timestamp: string | null,
    readonly receivedAtMs: number,
    readonly available: boolean,
  ) {}
}

/** A telegram's own time: its text, and its timeCode (NaN when it has none or another form). */
interface TelegramTime {
  readonly text: string | null;
  readonly code: number;
}

interface MeterRecord {
  readonly ref: MeterRef;
  retired: boolean;
  readonly entities: Map<string, EntityRecord>;
  /**
   * The entities of the meter's objects in its last telegram, in order (each with the object's OBIS key
   * and definition). A meter writes the same lines every time: when the next telegram's objects have the
   * same OBIS keys and definitions in the same order, their entity keys are the same too (a key depends
   * on the objects before it only), so they are found by position, without building the keys and entity
   * list again (meterEntities).
   */
  layout: readonly EntityRecord[];
}

const isRegister = (info: EntityInfo) => info.kind === "number" && info.stateClass === "total_increasing";
const canAggregate = (info: EntityInfo) => info.kind === "number" && info.stateClass === "measurement";

/**
 * The live model: meters per source, one entity per value, the latest state of each. Applies the
 * refresh policy and keeps registers from going backwards. Synchronous and timer-free: the gateway owns
 * time and events.
 */
export class EntityStore {
  readonly #meters = new Map<string, Map<string, MeterRecord>>(); // source → meter id → meter
  readonly #byId = new Map<string, EntityRecord>();
  /**
   * The same records per source, in the same (discovery) order: a per-source device lists only its own.
   * An array, not a map: it is only listed (a map per source cost more than a kilobyte each, at thousands
   * of sources), and removing from it (a retired meter forgotten) is rare.
   */
  readonly #bySource = new Map<string, EntityRecord[]>();
  /** The value of the object being read: filled in and read at once, per object of every telegram. */
  readonly #value: EntityValueSlot = { value: null, text: null, timestamp: null };

  /** Every entity (or every entity of one source), in discovery order. */
  entities(sourceId?: string): EntityInfo[] {
    return [...this.#records(sourceId)].map((r) => r.info);
  }

  /**
   * The latest state of every entity (or every entity of one source) that has one, repeated values
   * included, with their latest time.
   */
  states(sourceId?: string): EntityState[] {
    const out: EntityState[] = [];
    for (const r of this.#records(sourceId)) {
      const state = latest(r);
      if (state) out.push(state);
    }
    return out;
  }

  #records(sourceId: string | undefined): Iterable<EntityRecord> {
    return sourceId === undefined ? this.#byId.values() : (this.#bySource.get(sourceId) ?? []);
  }

  /** One entity by id. */
  entity(id: string): EntityInfo | undefined {
    return this.#byId.get(id)?.info;
  }

  /** The latest state of one entity. */
  state(id: string): EntityState | undefined {
    const r = this.#byId.get(id);
    return (r && latest(r)) ?? undefined;
  }

  /** Meters of a source still in service (not swapped out). */
  meters(sourceId: string): MeterRef[] {
    return [...(this.#meters.get(sourceId)?.values() ?? [])].filter((m) => !m.retired).map((m) => m.ref);
  }

  /** Takes one valid telegram of a source. */
  ingest(sourceId: string, telegram: Telegram, receivedAtMs: number, policyFor: PolicyFor): Ingested {
    const meters = discoverMeters(telegram);
    const text = telegramTime(telegram);
    const time: TelegramTime = { text, code: text === null ? Number.NaN : timeCode(text) };
    const result = {
      newEntities: [] as EntityInfo[],
      states: [] as EntityState[],
      stateEntities: [] as EntityInfo[],
      anomalies: [] as string[],
      resets: [] as string[],
      swaps: [] as { from: MeterRef; to: MeterRef }[],
    };
    const objects = telegram.objects;
    for (let i = 0; i < meters.length; i++) {
      const meter = meters[i] as Meter;
      const record = this.#meter(sourceId, meter, receivedAtMs, result);
      const policy = policyFor(record.ref);
      const value = this.#value;
      if (sameLayout(record.layout, objects, meter, i === 0)) {
        let slot = 0;
        for (const o of objects) {
          if (!belongsTo(o, meter, i === 0)) continue;
          const entity = record.layout[slot++] as EntityRecord;
          const serial = objectSerial(o);
          if (serial >= 0 && serial === entity.serial && policy.refreshRateS === 0) {
            repeated(entity, time, receivedAtMs);
            continue;
          }
          readEntityValue(o, value);
          const state = this.#update(entity, value, serial, time, receivedAtMs, policy, result);
          if (state) publish(result, state, entity.info);
        }
        continue;
      }
      const layout: EntityRecord[] = [];
      for (const e of meterEntities(telegram, meters)[i] ?? []) {
        let entity = record.entities.get(e.key);
        if (!entity) {
          entity = this.#addEntity(record.ref, describeEntity(e));
          record.entities.set(e.key, entity);
          result.newEntities.push(entity.info);
        }
        entity.objectKey = e.object.key;
        entity.def = e.object.def;
        layout.push(entity);
        const state = this.#update(
          entity,
          e.value,
          objectSerial(e.object),
          time,
          receivedAtMs,
          policy,
          result,
        );
        if (state) publish(result, state, entity.info);
      }
      record.layout = layout;
    }
    return result;
  }

  /** Marks every entity of a source unavailable (receivedTimeout); returns the states to publish. */
  markUnavailable(sourceId: string, atMs: number): Published {
    const out: Publishing = { states: [], stateEntities: [] };
    for (const meter of this.#meters.get(sourceId)?.values() ?? []) {
      for (const e of meter.entities.values()) {
        const s = this.#unavailable(e, atMs);
        if (s) publish(out, s, e.info);
      }
    }
    return out;
  }

  #meter(
    sourceId: string,
    meter: Meter,
    nowMs: number,
    result: Publishing & { swaps: { from: MeterRef; to: MeterRef }[] },
  ): MeterRecord {
    let source = this.#meters.get(sourceId);
    if (!source) {
      source = new Map();
      this.#meters.set(sourceId, source);
    }
    // The meter of the last telegram again (nearly always): found by what it says of itself, without
    // building its id (a slug and a string per meter and telegram). Equal fields make an equal id.
    for (const known of source.values()) {
      const r = known.ref;
      if (r.channel === meter.channel && r.type === meter.type && r.equipmentId === meter.equipmentId) {
        known.retired = false;
        return known;
      }
    }
    const id = meterId(meter);
    const known = source.get(id);
    if (known) {
      known.retired = false;
      return known;
    }
    const ref: MeterRef = {
      id,
      sourceId,
      type: meter.type,
      channel: meter.channel,
      equipmentId: meter.equipmentId,
    };
    const record: MeterRecord = { ref, retired: false, entities: new Map(), layout: [] };
    // The meter that had this channel before is retired: its values no longer come.
    for (const old of source.values()) {
      if (old.retired || old.ref.channel !== ref.channel || old.ref.type !== ref.type) continue;
      old.retired = true;
      result.swaps.push({ from: old.ref, to: ref });
      for (const e of old.entities.values()) {
        const s = this.#unavailable(e, nowMs);
        if (s) publish(result, s, e.info);
      }
    }
    source.set(id, record);
    this.#evictRetired(source);
    return record;
  }

  #evictRetired(source: Map<string, MeterRecord>): void {
    for (const [id, m] of source) {
      if (source.size <= MAX_METERS_PER_SOURCE) return;
      if (!m.retired) continue;
      for (const e of m.entities.values()) this.#byId.delete(e.info.id);
      const ofSource = this.#bySource.get(m.ref.sourceId);
      if (ofSource !== undefined)
        this.#bySource.set(
          m.ref.sourceId,
          ofSource.filter((e) => e.info.meter !== m.ref),
        );
      source.delete(id);
    }
  }

  #addEntity(meter: MeterRef, d: EntityDescription): EntityRecord {
    let id = `${meter.id}_${d.key}`;
    // Two sources reading the same meter (or two simulators with one seed) must still get distinct ids.
    if (this.#byId.has(id)) id = `${id}_${meter.sourceId}`;
    const info: EntityInfo = {
      id,
      sourceId: meter.sourceId,
      meter,
      name: d.name,
      obis: d.obis,
      channelName: d.channelName,
      kind: d.kind,
      unit: d.unit,
      deviceClass: d.deviceClass,
      stateClass: d.stateClass,
      diagnostic: d.diagnostic,
      decimals: d.decimals,
    };
    const record: EntityRecord = {
      info,
      hasState: false,
      available: false,
      number: Number.NaN,
      stringTime: Number.NaN,
      string: null,
      textShape: NO_DIGITS,
      textString: null,
      timestampTime: Number.NaN,
      timestampString: null,
      receivedAtMs: Number.NaN,
      window: null,
      held: Number.NEGATIVE_INFINITY,
      lowerRun: null,
      objectKey: "",
      def: undefined,
      serial: -1,
      ownTimestamp: false,
    };
    this.#byId.set(id, record);
    const ofSource = this.#bySource.get(meter.sourceId);
    if (ofSource === undefined) this.#bySource.set(meter.sourceId, [record]);
    else ofSource.push(record);
    return record;
  }

  /** Takes an object's value (`serial`: the object's, see EntityRecord) into its entity. */
  #update(
    e: EntityRecord,
    v: EntityValue,
    serial: number,
    telegramTs: TelegramTime,
    nowMs: number,
    policy: MeterPolicy,
    result: { anomalies: string[]; resets: string[] },
  ): EntityState | null {
    // Only the two ends below leave the record holding exactly this object's state.
    e.serial = -1;
    if (v.value === null) return null;
    if (isRegister(e.info) && typeof v.value === "number") {
      const verdict = this.#checkRegister(e, v.value);
      if (verdict === "held") {
        result.anomalies.push(e.info.id);
        return null;
      }
      if (verdict === "reset") result.resets.push(e.info.id);
    }
    let value = v.value;
    let text = v.text;
    if (policy.refreshRateS > 0 && canAggregate(e.info) && typeof value === "number") {
      const w = e.window ?? { count: 0, sum: 0, min: value, max: value };
      w.count++;
      w.sum += value;
      w.min = Math.min(w.min, value);
      w.max = Math.max(w.max, value);
      e.window = w;
      if (policy.aggregate !== "last") {
        value = policy.aggregate === "mean" ? roundTo(w.sum / w.count, e.info.decimals) : w[policy.aggregate];
        text = null;
      }
    }
    const due =
      policy.refreshRateS === 0 || !e.available || nowMs - e.receivedAtMs >= policy.refreshRateS * 1000;
    if (!due) return null;
    e.window = null;
    const timestamp = v.timestamp ?? telegramTs.text;
    const timestampTime = v.timestamp === null ? telegramTs.code : timeCode(v.timestamp);
    setTimestamp(e, timestampTime, timestamp);
    e.receivedAtMs = nowMs;
    // The telegram's own time is the value of its timestamp entity: coded once, above.
    const stringTime =
      typeof value !== "string" ? Number.NaN : value === telegramTs.text ? telegramTs.code : timeCode(value);
    const textShape = digitsShape(text, value);
    // Only a change is published: a meter repeats most values verbatim (ids, tariff, slow registers), and
    // sending them again on every telegram would cost every client and API the full telegram each second.
    // A repeated value's latest time is still kept, for states() and new clients.
    if (e.available && isCurrent(e, value, stringTime) && isCurrentText(e, text, textShape)) {
      this.#holds(e, v, serial, policy);
      return null;
    }
    e.hasState = true;
    e.available = true;
    if (typeof value === "number") {
      e.number = value;
      e.stringTime = Number.NaN;
      e.string = null;
    } else {
      e.number = Number.NaN;
      e.stringTime = stringTime;
      e.string = Number.isNaN(stringTime) ? ownString(value) : null;
    }
    e.textShape = textShape;
    e.textString = textShape === OTHER_DIGITS && text !== null ? ownString(text) : null;
    this.#holds(e, v, serial, policy);
    return new State(e.info.id, value, text, timestamp, nowMs, true);
  }

  /**
   * Notes that `e` now holds the state of the object `serial` as it is (not an aggregate of a refresh
   * window, which changes with every telegram).
   */
  #holds(e: EntityRecord, v: EntityValue, serial: number, policy: MeterPolicy): void {
    if (policy.refreshRateS !== 0) return;
    e.serial = serial;
    e.ownTimestamp = v.timestamp !== null;
  }

  /** Registers never go backwards: a lower value is held back unless it persists (a real reset). */
  #checkRegister(e: EntityRecord, value: number): "ok" | "held" | "reset" {
    if (e.held === Number.NEGATIVE_INFINITY || value >= e.held) {
      e.held = value;
      e.lowerRun = null;
      return "ok";
    }
    const run = e.lowerRun;
    e.lowerRun = run && value >= run.last ? { count: run.count + 1, last: value } : { count: 1, last: value };
    if (e.lowerRun.count < RESET_CONFIRMATIONS) return "held";
    e.held = value;
    e.lowerRun = null;
    return "reset";
  }

  #unavailable(e: EntityRecord, atMs: number): EntityState | null {
    if (!e.available) return null;
    e.serial = -1;
    e.window = null;
    e.available = false;
    e.number = Number.NaN;
    e.stringTime = Number.NaN;
    e.string = null;
    e.textShape = NO_DIGITS;
    e.textString = null;
    e.receivedAtMs = atMs;
    return latest(e);
  }
}

/**
 * The object `e` holds the state of, again (a line the meter repeated, which the parser did not read
 * again): what #update would do with it, in short. Its value, text and own timestamp are the record's;
 * the telegram's time (when the object has no time of its own) and the time received move, so states()
 * shows the latest telegram, and nothing is published.
 */
function repeated(e: EntityRecord, telegramTs: TelegramTime, nowMs: number): void {
  if (!e.ownTimestamp) {
    setTimestamp(e, telegramTs.code, telegramTs.text);
  }
  e.receivedAtMs = nowMs;
}

/** The state's timestamp: its timeCode, or (NaN) the text as it is. */
function setTimestamp(e: EntityRecord, time: number, text: string | null): void {
  e.timestampTime = time;
  e.timestampString = Number.isNaN(time) ? text : null;
}

/** Adds a state to publish, with its entity. */
function publish(to: Publishing, state: EntityState, entity: EntityInfo): void {
  to.states.push(state);
  to.stateEntities.push(entity);
}

/** Whether a meter's objects in a telegram are those of `layout`: same OBIS keys and definitions, in order. */
function sameLayout(
  layout: readonly EntityRecord[],
  objects: readonly CosemObject[],
  meter: Meter,
  isMain: boolean,
): boolean {
  if (layout.length === 0) return false;
  let slot = 0;
  for (const o of objects) {
    if (!belongsTo(o, meter, isMain)) continue;
    const known = layout[slot++];
    if (known === undefined || known.objectKey !== o.key || known.def !== o.def) return false;
  }
  return slot === layout.length;
}

/** The value of an available entity. */
function currentValue(e: EntityRecord): number | string {
  return e.string ?? (Number.isNaN(e.stringTime) ? e.number : timeText(e.stringTime));
}

/** Whether `value` (with `stringTime`, its timeCode) is the entity's value: compared without building it. */
function isCurrent(e: EntityRecord, value: number | string, stringTime: number): boolean {
  if (typeof value === "number") return e.string === null && Number.isNaN(e.stringTime) && e.number === value;
  return Number.isNaN(stringTime) ? e.string === value : e.stringTime === stringTime;
}

/** Whether `text` (of shape `textShape`) is the entity's text, when its value is the entity's value. */
function isCurrentText(e: EntityRecord, text: string | null, textShape: number): boolean {
  return textShape === OTHER_DIGITS ? e.textString === text : e.textShape === textShape;
}

function textOf(e: EntityRecord): string | null {
  if (e.textShape === NO_DIGITS) return null;
  return e.textShape === OTHER_DIGITS ? e.textString : digitsText(e.number, e.textShape);
}

function timestampOf(e: EntityRecord): string | null {
  return Number.isNaN(e.timestampTime) ? e.timestampString : timeText(e.timestampTime);
}

/** An entity's latest state, as a new object (the record changes with the next telegram); null if none. */
function latest(e: EntityRecord): EntityState | null {
  if (!e.hasState) return null;
  return new State(
    e.info.id,
    e.available ? currentValue(e) : null,
    textOf(e),
    timestampOf(e),
    e.receivedAtMs,
    e.available,
  );
}

function roundTo(value: number, decimals: number | null): number {
  const f = 10 ** Math.min(decimals ?? 3, 9);
  return Math.round(value * f) / f;
}
