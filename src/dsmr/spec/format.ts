import type { ObjectName } from "./objects.ts";
import type { VersionName } from "./versions.ts";

/**
 * How meters write things the parser reads leniently but a writer must choose: number widths, which
 * tariff is the night tariff, how often M-Bus readings are captured, the version marker. Widths are
 * taken from the real captures in ../shared/telegrams (one example cited per group); pure data.
 */

/** Digits before and after the decimal point; `unit: false` when meters write the number bare. */
export interface NumberFormat {
  readonly integer: number;
  readonly fraction: number;
  readonly unit?: false;
}

/** How one version writes its telegrams. */
export interface WriteConvention {
  /** Number widths per object; objects absent here are written without padding. */
  readonly numbers: Readonly<Partial<Record<ObjectName, NumberFormat>>>;
  /** Tariff indicator (0-0:96.14.0) value of the low / night tariff: 1 in NL, 2 in Belgium. */
  readonly nightTariff: 1 | 2;
  /** How often M-Bus sub-meters capture their reading (DSMR 4: hourly, DSMR 5 and e-MUCS: 5 minutes). */
  readonly mbusCaptureMs: number;
  /** Text of the version object (1-3:0.2.8 or e-MUCS 0-0:96.1.4). */
  readonly versionText?: string;
}

const n = (integer: number, fraction: number): NumberFormat => ({ integer, fraction });
const HOUR_MS = 3_600_000;
const FIVE_MINUTES_MS = 300_000;

// DSMR 2.2 capture: 1-0:1.8.1(00001.001*kWh), 1-0:1.7.0(0001.01*kW), 0-0:17.0.0(0999.00*kW), 0-1:24.1.0(3).
const DSMR2_NUMBERS = {
  emeter_delivery_tariff1: n(5, 3),
  emeter_delivery_tariff2: n(5, 3),
  emeter_production_tariff1: n(5, 3),
  emeter_production_tariff2: n(5, 3),
  emeter_tariff_indicator: n(4, 0),
  emeter_actual_delivery: n(4, 2),
  emeter_actual_production: n(4, 2),
  emeter_treshold_kw: n(4, 2),
  emeter_treshold_a_v2_1: n(4, 0),
  emeter_switch_position: n(1, 0),
  emeter_switch_position_v2_1: n(1, 0),
  gmeter_24h_delivery_v2: n(5, 3),
  gmeter_24h_delivery_compensated_v2: n(5, 3),
  gmeter_valve_position_v2_1: n(1, 0),
  meter_device_type: n(1, 0),
  meter_value_v3: n(5, 3),
  meter_valve_switch_position: n(1, 0),
} as const satisfies Partial<Record<ObjectName, NumberFormat>>;

// DSMR 3.0 capture: 1-0:1.8.1(12345.678*kWh), 1-0:1.7.0(001.19*kW), 0-0:17.0.0(016*A), 0-1:24.1.0(03).
const DSMR3_NUMBERS = {
  ...DSMR2_NUMBERS,
  emeter_actual_delivery: n(3, 2),
  emeter_actual_production: n(3, 2),
  emeter_treshold_a: n(3, 0),
  meter_device_type: n(2, 0),
} as const satisfies Partial<Record<ObjectName, NumberFormat>>;

// DSMR 4.x/5.0 captures: 1-0:1.8.1(001073.079*kWh), 1-0:1.7.0(00.143*kW), 0-0:96.7.21(00006),
// 1-0:31.7.0(000*A), 1-0:32.7.0(229.9*V), 0-0:17.0.0(999.9*kW), 0-1:24.1.0(003), 0-1:24.2.1(...)(00845.206*m3).
const DSMR4_NUMBERS = {
  emeter_delivery_tariff0: n(6, 3),
  emeter_delivery_tariff1: n(6, 3),
  emeter_delivery_tariff2: n(6, 3),
  emeter_production_tariff0: n(6, 3),
  emeter_production_tariff1: n(6, 3),
  emeter_production_tariff2: n(6, 3),
  emeter_tariff_indicator: n(4, 0),
  emeter_actual_delivery: n(2, 3),
  emeter_actual_production: n(2, 3),
  emeter_treshold_kw: n(3, 1),
  emeter_switch_position: n(1, 0),
  emeter_power_failures: n(5, 0),
  emeter_long_power_failures: n(5, 0),
  emeter_voltage_sags_l1: n(5, 0),
  emeter_voltage_sags_l2: n(5, 0),
  emeter_voltage_sags_l3: n(5, 0),
  emeter_voltage_swells_l1: n(5, 0),
  emeter_voltage_swells_l2: n(5, 0),
  emeter_voltage_swells_l3: n(5, 0),
  emeter_instant_voltage_l1: n(3, 1),
  emeter_instant_voltage_l2: n(3, 1),
  emeter_instant_voltage_l3: n(3, 1),
  emeter_instant_current_l1: n(3, 0),
  emeter_instant_current_l2: n(3, 0),
  emeter_instant_current_l3: n(3, 0),
  emeter_instant_power_delivery_l1: n(2, 3),
  emeter_instant_power_delivery_l2: n(2, 3),
  emeter_instant_power_delivery_l3: n(2, 3),
  emeter_instant_power_production_l1: n(2, 3),
  emeter_instant_power_production_l2: n(2, 3),
  emeter_instant_power_production_l3: n(2, 3),
  meter_device_type: n(3, 0),
  meter_valve_switch_position: n(1, 0),
} as const satisfies Partial<Record<ObjectName, NumberFormat>>;

// e-MUCS captures: 1-0:31.7.0(001.74*A), 1-0:1.4.0(02.351*kW), 1-0:1.6.0(...)(02.589*kW), 1-0:31.4.0(999*A).
const EMUCS_NUMBERS = {
  ...DSMR4_NUMBERS,
  emeter_instant_current_l1: n(3, 2),
  emeter_instant_current_l2: n(3, 2),
  emeter_instant_current_l3: n(3, 2),
  emeter_actual_average_demand: n(2, 3),
  emeter_max_demand_month: n(2, 3),
  emeter_max_demand_history: n(2, 3),
  emeter_fuse_threshold_a: n(3, 0),
} as const satisfies Partial<Record<ObjectName, NumberFormat>>;

// Smarty captures: 1-0:3.8.0(000012.345*kvarh), 1-0:3.7.0(00.000*kvar), 0-0:17.0.0(12.300*kVA).
const SMARTY_NUMBERS = {
  ...DSMR4_NUMBERS,
  emeter_total_imported_energy_register_q: n(6, 3),
  emeter_total_exported_energy_register_q: n(6, 3),
  emeter_actual_reactive_delivery: n(2, 3),
  emeter_actual_reactive_production: n(2, 3),
  emeter_active_threshold_smax: n(2, 3),
  emeter_instant_reactive_power_delivery_l1: n(2, 3),
  emeter_instant_reactive_power_delivery_l2: n(2, 3),
  emeter_instant_reactive_power_delivery_l3: n(2, 3),
  emeter_instant_reactive_power_production_l1: n(2, 3),
  emeter_instant_reactive_power_production_l2: n(2, 3),
  emeter_instant_reactive_power_production_l3: n(2, 3),
} as const satisfies Partial<Record<ObjectName, NumberFormat>>;

/** Per-version writing conventions (NL tariff 1 = low; Fluvius tariff 1 = day, 2 = night). */
export const WRITE_CONVENTIONS = {
  nta8130: { numbers: DSMR2_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS },
  "2.1": { numbers: DSMR2_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS },
  "2.2": { numbers: DSMR2_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS },
  "3.0": { numbers: DSMR3_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS },
  "4.0": { numbers: DSMR4_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS, versionText: "40" },
  "4.04": { numbers: DSMR4_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS, versionText: "40" },
  "4.2": { numbers: DSMR4_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS, versionText: "42" },
  "5.0": { numbers: DSMR4_NUMBERS, nightTariff: 1, mbusCaptureMs: FIVE_MINUTES_MS, versionText: "50" },
  emucs: { numbers: EMUCS_NUMBERS, nightTariff: 2, mbusCaptureMs: FIVE_MINUTES_MS, versionText: "50217" },
  smarty: { numbers: SMARTY_NUMBERS, nightTariff: 1, mbusCaptureMs: HOUR_MS, versionText: "42" },
} as const satisfies Readonly<Record<VersionName, WriteConvention>>;

/** Width of an M-Bus reading by its unit: gas/water (00845.206*m3), heat (240.860*GJ). */
export const READING_FORMAT_BY_UNIT: Readonly<Record<string, NumberFormat>> = {
  m3: n(5, 3),
  GJ: n(3, 3),
  kWh: n(6, 3),
};

/** Power-failure log duration, DSMR 5.0.2 §6.12: (0000002014*s). */
export const FAILURE_DURATION_FORMAT: NumberFormat = n(10, 0);

/** Legacy gas (DSMR 2.2/3.0 0-n:24.3.0) fixed groups between timestamp and unit: (00)(60)(1). */
export const LEGACY_GAS_GROUPS: readonly string[] = ["00", "60", "1"];
