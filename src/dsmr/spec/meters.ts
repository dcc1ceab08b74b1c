import type { DeviceClass } from "./types.ts";

/**
 * Kinds of meter a telegram can describe, with a display name and the device class of the kind's main
 * reading (an M-Bus `0-n:24.2.1` value is gas, water or energy depending on the meter behind it).
 * `generic` is a DSMR 3.0 M-Bus meter of unstated medium.
 */
export const METER_KINDS = {
  electricity: { name: "Electricity", readingClass: "energy" },
  gas: { name: "Gas", readingClass: "gas" },
  water: { name: "Water", readingClass: "water" },
  heat: { name: "Heat", readingClass: "energy" },
  cooling: { name: "Cooling", readingClass: "energy" },
  generic: { name: "M-Bus", readingClass: "volume" },
} as const satisfies Readonly<Record<string, { name: string; readingClass: DeviceClass }>>;

/** A kind of meter. */
export type MeterKind = keyof typeof METER_KINDS;

/** Every meter kind, in table order. */
export const METER_KIND_NAMES = Object.keys(METER_KINDS) as readonly MeterKind[];
