import {
  type Codec,
  type CosemObject,
  type DeviceClass,
  METER_KINDS,
  OBJECTS,
  type ObjectDef,
  type StateClass,
  type Telegram,
} from "../dsmr/index.ts";
import type { Meter } from "./discover.ts";

/** Whether an entity's state is a number or a text. */
export type ValueKind = "number" | "text";

/** What each codec's value becomes as an entity state. */
const KIND_BY_CODEC = {
  decimal: "number",
  timestampedDecimal: "number",
  legacyGas: "number",
  legacyReading: "number",
  peakHistory: "number", // the latest month's peak, with its own timestamp
  string: "text",
  hexText: "text",
  timestamp: "text", // ISO 8601, device class `timestamp`
  failureLog: "text", // the latest failure: when it ended and how long it lasted
} as const satisfies Readonly<Record<Codec, ValueKind>>;

/** One value a meter exposes, as described by the spec tables (no source, no state). */
export interface EntityDescription {
  /** Unique within the meter: the spec's channel name, with the OBIS appended when a name repeats. */
  readonly key: string;
  /** The spec's channel name. */
  readonly channelName: string;
  readonly name: string;
  readonly obis: string;
  readonly kind: ValueKind;
  readonly unit: string | null;
  readonly deviceClass: DeviceClass | null;
  readonly stateClass: StateClass | null;
  readonly diagnostic: boolean;
  readonly decimals: number | null;
}

/** A value read from one object. */
export interface EntityValue {
  readonly value: number | string | null;
  /** Digits exactly as written, for numbers. */
  readonly text: string | null;
  /** The value's own timestamp (M-Bus capture time, peak time), else null. */
  readonly timestamp: string | null;
}

/**
 * An entity of a meter with its value in one telegram. Its description is built on demand
 * (`describeEntity`): a meter's entities are described once, when they are new, not with every telegram.
 */
export interface MeterEntity {
  /** Unique within the meter: the channel name, or the channel name and OBIS key when it repeats. */
  readonly key: string;
  readonly value: EntityValue;
  readonly object: CosemObject;
  readonly meter: Meter;
}

const SLUG_RE = /[^a-z0-9]+/g;

/** Lower-case letters, digits and single underscores: safe in ids of every API. */
export function slug(text: string): string {
  return text.toLowerCase().replace(SLUG_RE, "_").replace(/^_|_$/g, "");
}

/** Stable meter id from what the meter says of itself: `${type}_${channel}_${equipment id}`. */
export function meterId(meter: Meter): string {
  const equipment = meter.equipmentId === null ? "unknown" : slug(meter.equipmentId) || "unknown";
  return `${meter.type}_${meter.channel}_${equipment}`;
}

/**
 * Whether an object belongs to a meter: its scope, and for M-Bus objects its channel. `isMain`: the meter
 * is the telegram's first (device-level objects go with it).
 */
export function belongsTo(o: CosemObject, meter: Meter, isMain: boolean): boolean {
  const scope = o.def?.meter;
  if (scope === undefined) return false;
  if (scope === "mbus") return meter.channel !== 0 && o.channel === meter.channel;
  if (meter.channel !== 0) return false;
  // Device-level objects (version, telegram time, text messages) go with the main meter.
  return scope === meter.type || (scope === "device" && isMain);
}

function decimalsOf(text: string): number {
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** An EntityValue being filled in (see readEntityValue). */
export interface EntityValueSlot {
  value: number | string | null;
  text: string | null;
  timestamp: string | null;
}

/** The state an object's value gives. */
export function entityValue(o: CosemObject): EntityValue {
  const v: EntityValueSlot = { value: null, text: null, timestamp: null };
  readEntityValue(o, v);
  return v;
}

/**
 * The state an object's value gives, written into `into`: the store reads every object of every
 * telegram, and a new object for each (36 a telegram) was most of what it allocated.
 */
export function readEntityValue(o: CosemObject, into: EntityValueSlot): void {
  const v = o.value;
  let value: number | string | null = null;
  let text: string | null = null;
  let timestamp: string | null = null;
  switch (v.kind) {
    case "decimal":
      value = v.value;
      text = v.text;
      break;
    case "reading":
      value = v.value;
      text = v.text;
      timestamp = v.timestamp;
      break;
    case "text":
    case "timestamp":
      value = v.value;
      break;
    case "failureLog": {
      const last = v.entries.at(-1);
      value = last ? `${last.timestamp ?? "unknown"} (${last.durationS} s)` : "none";
      timestamp = last?.timestamp ?? null;
      break;
    }
    case "peakHistory": {
      const last = v.entries.at(-1);
      if (last) {
        value = last.value;
        text = last.text;
        timestamp = last.timestamp;
      }
      break;
    }
    case "raw":
      break;
  }
  into.value = value;
  into.text = text;
  into.timestamp = timestamp;
}

function unitOf(o: CosemObject, def: ObjectDef): string | null {
  const v = o.value;
  const written = v.kind === "decimal" || v.kind === "reading" ? v.unit : null;
  if (written !== null) return written;
  if (v.kind === "peakHistory") return v.entries.at(-1)?.unit ?? def.unit ?? null;
  return def.unit ?? null;
}

/** What an entity is: name, unit, classes, decimals (from its object in the telegram it first came in). */
export function describeEntity(entity: MeterEntity): EntityDescription {
  const { object: o, meter, key } = entity;
  const def = o.def as ObjectDef; // meterEntities lists objects with a definition only
  const kind = KIND_BY_CODEC[def.codec];
  const isReading = def.meter === "mbus" && def.role === "reading";
  const v = o.value;
  const digits = v.kind === "decimal" || v.kind === "reading" || v.kind === "peakHistory";
  const text = v.kind === "peakHistory" ? (v.entries.at(-1)?.text ?? "") : digits ? v.text : "";
  return {
    key,
    channelName: def.id,
    name: def.meter === "mbus" ? `${METER_KINDS[meter.type].name} ${def.name.toLowerCase()}` : def.name,
    obis: o.obis,
    kind,
    unit: unitOf(o, def),
    deviceClass: isReading ? METER_KINDS[meter.type].readingClass : (def.deviceClass ?? null),
    stateClass: def.stateClass ?? null,
    diagnostic: def.diagnostic === true,
    decimals: kind === "number" ? decimalsOf(text) : null,
  };
}

/**
 * The entities each meter exposes in a telegram, with their values. `meters` comes from `discoverMeters`;
 * objects of no known meter (unknown OBIS, dead M-Bus slots) expose nothing. Pure.
 */
export function meterEntities(telegram: Telegram, meters: readonly Meter[]): MeterEntity[][] {
  return meters.map((meter, index) => {
    const used = new Set<string>();
    const out: MeterEntity[] = [];
    for (const o of telegram.objects) {
      const def = o.def;
      if (def === undefined || !belongsTo(o, meter, index === 0)) continue;
      const key = used.has(def.id) ? `${def.id}_${slug(o.key)}` : def.id;
      used.add(key);
      out.push({ key, value: entityValue(o), object: o, meter });
    }
    return out;
  });
}

/** The telegram's own time (0-0:1.0.0), ISO 8601 with offset; null when absent or a placeholder. */
export function telegramTime(telegram: Telegram): string | null {
  const o = telegram.objects.find((x) => x.def === OBJECTS.p1_timestamp);
  return o?.value.kind === "timestamp" ? o.value.value : null;
}
