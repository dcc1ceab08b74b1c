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

/**
 * Which meters a telegram holds. An M-Bus channel counts when it names a device (a non-zero equipment
 * id) or carries a real reading; channels written with placeholders only (`700101010000W`, zero ids) are
 * dead slots and left out. Pure.
 */
export function discoverMeters(telegram: Telegram): Meter[] {
  const meters: Meter[] = [];
  const electricity = telegram.objects.filter((o) => o.def?.meter === "electricity");
  if (electricity.length > 0) {
    meters.push({
      type: "electricity",
      channel: 0,
      equipmentId: textOf(electricity.find((o) => o.def?.role === "identifier")),
      deviceType: null,
    });
  }
  for (const kind of LEGACY_KINDS) {
    const objs = telegram.objects.filter((o) => o.def?.meter === kind);
    if (objs.length === 0) continue;
    const id = textOf(objs.find((o) => o.def?.role === "identifier"));
    meters.push({ type: kind as MeterKind, channel: 0, equipmentId: id, deviceType: null });
  }
  const channels = new Map<number, CosemObject[]>();
  for (const o of telegram.objects) {
    if (o.def?.meter !== "mbus") continue;
    const list = channels.get(o.channel) ?? [];
    list.push(o);
    channels.set(o.channel, list);
  }
  for (const [channel, objs] of [...channels].sort((a, b) => a[0] - b[0])) {
    const typeObj = objs.find((o) => o.def?.role === "deviceType");
    const deviceType = typeObj?.value.kind === "decimal" ? typeObj.value.value : null;
    const equipmentId = textOf(objs.find((o) => o.def?.role === "identifier"));
    const reading = objs.find((o) => o.def?.role === "reading")?.value;
    const hasReading = reading?.kind === "reading" && reading.timestamp !== null;
    if (equipmentId === null && !hasReading) continue;
    const unit = reading && "unit" in reading ? reading.unit : null;
    meters.push({ type: mbusKind(deviceType, unit), channel, equipmentId, deviceType });
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
