import {
  type CosemObject,
  MBUS_DEVICE_TYPES,
  MBUS_KIND_BY_UNIT,
  type MeterKind,
  type Telegram,
} from "../dsmr/index.ts";

export type { MeterKind } from "../dsmr/index.ts";

/** A meter found in a telegram: the main electricity meter (channel 0) or an M-Bus sub-meter (1-4). */
export interface Meter {
  readonly type: MeterKind;
  readonly channel: number;
  /** Decoded equipment identifier; null when the meter does not state one. */
  readonly equipmentId: string | null;
  /** M-Bus device type from 0-n:24.1.0, when written. */
  readonly deviceType: number | null;
}

/**
 * A Meter as discoverMeters makes it, by a class rather than object literals: V8 decides per literal
 * whether to allocate its objects straight in the old generation, from how many survived a scavenge,
 * and meters are made for every telegram of every meter. In about one bench process in twenty-five it
 * decided so for these (3,000 meters through decoder and store: ~140 B a telegram of old-generation
 * garbage); a class's objects are never pretenured that way.
 */
class FoundMeter implements Meter {
  constructor(
    readonly type: MeterKind,
    readonly channel: number,
    readonly equipmentId: string | null,
    readonly deviceType: number | null,
  ) {}
}

const LEGACY_KINDS: ReadonlySet<string> = new Set(["gas", "water", "heat", "cooling"]);
const ZERO_ID_RE = /^0*$/;

function textOf(o: CosemObject | undefined): string | null {
  return o && o.value.kind === "text" && !ZERO_ID_RE.test(o.value.raw) ? o.value.value : null;
}

function mbusKind(deviceType: number | null, unit: string | null): MeterKind {
  const byType =
    deviceType === null ? undefined : MBUS_DEVICE_TYPES[deviceType as keyof typeof MBUS_DEVICE_TYPES];
  if (byType) return byType;
  const byUnit = unit ? MBUS_KIND_BY_UNIT[unit as keyof typeof MBUS_KIND_BY_UNIT] : undefined;
  return byUnit ?? "generic";
}

/** What one pass over a telegram found of an M-Bus channel: its first object of each role. */
interface Channel {
  readonly channel: number;
  deviceType: CosemObject | undefined;
  identifier: CosemObject | undefined;
  reading: CosemObject | undefined;
}

/**
 * The entry of a channel, added when new. A loop, not find(): a closure over the object would make V8
 * allocate a context for every object of every telegram.
 */
function channelOf(channels: Channel[], channel: number): Channel {
  for (const c of channels) if (c.channel === channel) return c;
  const c: Channel = { channel, deviceType: undefined, identifier: undefined, reading: undefined };
  channels.push(c);
  return c;
}

/**
 * Which meters a telegram holds. An M-Bus channel counts when it names a device (a non-zero equipment
 * id) or carries a real reading; channels written with placeholders only (`700101010000W`, zero ids) are
 * dead slots and left out. One pass over the objects: it runs for every telegram of every meter. Pure.
 */
export function discoverMeters(telegram: Telegram): Meter[] {
  let electricity = false;
  let electricityId: CosemObject | undefined;
  // Legacy (DSMR 2.x) sub-meters, by kind: seen, and their first identifier.
  let legacy: Map<string, CosemObject | undefined> | undefined;
  let channels: Channel[] | undefined;
  for (const o of telegram.objects) {
    const def = o.def;
    if (def === undefined) continue;
    const scope = def.meter;
    if (scope === "electricity") {
      electricity = true;
      if (electricityId === undefined && def.role === "identifier") electricityId = o;
    } else if (LEGACY_KINDS.has(scope)) {
      legacy ??= new Map();
      const id = legacy.get(scope);
      legacy.set(scope, id ?? (def.role === "identifier" ? o : undefined));
    } else if (scope === "mbus") {
      channels ??= [];
      const c = channelOf(channels, o.channel);
      if (def.role === "deviceType") c.deviceType ??= o;
      else if (def.role === "identifier") c.identifier ??= o;
      else if (def.role === "reading") c.reading ??= o;
    }
  }
  const meters: Meter[] = [];
  if (electricity) meters.push(new FoundMeter("electricity", 0, textOf(electricityId), null));
  if (legacy !== undefined) {
    for (const kind of LEGACY_KINDS) {
      if (!legacy.has(kind)) continue;
      const id = textOf(legacy.get(kind));
      meters.push(new FoundMeter(kind as MeterKind, 0, id, null));
    }
  }
  for (const c of channels?.sort((a, b) => a.channel - b.channel) ?? []) {
    const typeValue = c.deviceType?.value;
    const deviceType = typeValue?.kind === "decimal" ? typeValue.value : null;
    const equipmentId = textOf(c.identifier);
    const reading = c.reading?.value;
    const hasReading = reading?.kind === "reading" && reading.timestamp !== null;
    if (equipmentId === null && !hasReading) continue;
    const unit = reading && "unit" in reading ? reading.unit : null;
    meters.push(new FoundMeter(mbusKind(deviceType, unit), c.channel, equipmentId, deviceType));
  }
  return meters;
}

/** A sub-meter replaced on its channel: the equipment id changed. */
export interface MeterSwap {
  readonly type: MeterKind;
  readonly channel: number;
  readonly from: string | null;
  readonly to: string | null;
}

/** Meters whose equipment id changed between two telegrams of the same source. */
export function detectMeterSwaps(previous: readonly Meter[], current: readonly Meter[]): MeterSwap[] {
  const swaps: MeterSwap[] = [];
  for (const now of current) {
    const before = previous.find((m) => m.channel === now.channel && m.type === now.type);
    if (
      before &&
      before.equipmentId !== now.equipmentId &&
      before.equipmentId !== null &&
      now.equipmentId !== null
    ) {
      swaps.push({ type: now.type, channel: now.channel, from: before.equipmentId, to: now.equipmentId });
    }
  }
  return swaps;
}
