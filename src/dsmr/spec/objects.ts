import type { MeterKind } from "./meters.ts";
import type { ObjectDef } from "./types.ts";

// Presets for the recurring shapes; each object below states OBIS, channel name and human name.
const ENERGY = {
  codec: "decimal",
  unit: "kWh",
  meter: "electricity",
  deviceClass: "energy",
  stateClass: "total_increasing",
} as const;
const REACTIVE_ENERGY = {
  codec: "decimal",
  unit: "kvarh",
  meter: "electricity",
  deviceClass: "reactive_energy",
  stateClass: "total_increasing",
} as const;
const POWER = {
  codec: "decimal",
  unit: "kW",
  meter: "electricity",
  deviceClass: "power",
  stateClass: "measurement",
} as const;
const REACTIVE_POWER = {
  codec: "decimal",
  unit: "kvar",
  meter: "electricity",
  deviceClass: "reactive_power",
  stateClass: "measurement",
} as const;
const VOLTAGE = {
  codec: "decimal",
  unit: "V",
  meter: "electricity",
  deviceClass: "voltage",
  stateClass: "measurement",
} as const;
const CURRENT = {
  codec: "decimal",
  unit: "A",
  meter: "electricity",
  deviceClass: "current",
  stateClass: "measurement",
} as const;
const POWER_LIMIT = {
  codec: "decimal",
  unit: "kW",
  meter: "electricity",
  deviceClass: "power",
  diagnostic: true,
} as const;
const CURRENT_LIMIT = {
  codec: "decimal",
  unit: "A",
  meter: "electricity",
  deviceClass: "current",
  diagnostic: true,
} as const;
const COUNTER = {
  codec: "decimal",
  meter: "electricity",
  stateClass: "total_increasing",
  diagnostic: true,
} as const;
const STATUS = { codec: "decimal", meter: "electricity", diagnostic: true } as const;
const DEVICE_TEXT = { codec: "hexText", meter: "device" } as const;

/**
 * Every COSEM object a Dutch, Belgian or Luxembourg P1 telegram can carry, keyed by a unique definition
 * name. Sources: DSMR P1 Companion Standard 5.0.2 §6.12 (table 6-1, objects of 4.x/5.0), DSMR 4.0.7 §6.12,
 * DSMR 2.2/3.0 P1 §5, Fluvius e-MUCS P1 1.7.1 §4 (Belgium), Luxembourg Smarty P1 1.1 §3. Channel names
 * follow the openHAB DSMR binding (the seed binding), including its "treshold" spelling.
 */
export const OBJECTS = sameShape({
  // ---- Device (DSMR 5.0.2 table 6-1; e-MUCS §4.1) ----
  p1_version_output: {
    obis: "1-3:0.2.8",
    id: "p1_version_output",
    name: "P1 version",
    codec: "string",
    meter: "device",
    diagnostic: true,
  },
  p1_emucs_version_output: {
    obis: "0-0:96.1.4",
    id: "p1_emucs_version_output",
    name: "e-MUCS version",
    codec: "string",
    meter: "device",
    diagnostic: true,
  },
  p1_timestamp: {
    obis: "0-0:1.0.0",
    id: "p1_timestamp",
    name: "Telegram timestamp",
    codec: "timestamp",
    meter: "device",
    deviceClass: "timestamp",
    diagnostic: true,
  },
  p1_text_code: { obis: "0-0:96.13.1", id: "p1_text_code", name: "Text message code", ...DEVICE_TEXT },
  p1_text_string: { obis: "0-0:96.13.0", id: "p1_text_string", name: "Text message", ...DEVICE_TEXT },
  // Smarty 1.1 §3.2: four further text message slots.
  p1_text_string_2: { obis: "0-0:96.13.2", id: "p1_text_string_2", name: "Text message 2", ...DEVICE_TEXT },
  p1_text_string_3: { obis: "0-0:96.13.3", id: "p1_text_string_3", name: "Text message 3", ...DEVICE_TEXT },
  p1_text_string_4: { obis: "0-0:96.13.4", id: "p1_text_string_4", name: "Text message 4", ...DEVICE_TEXT },
  p1_text_string_5: { obis: "0-0:96.13.5", id: "p1_text_string_5", name: "Text message 5", ...DEVICE_TEXT },

  // ---- Electricity: identification ----
  emeter_equipment_identifier: {
    obis: "0-0:96.1.1",
    id: "emeter_equipment_identifier",
    name: "Equipment identifier",
    codec: "hexText",
    meter: "electricity",
    diagnostic: true,
    role: "identifier",
  },
  // DSMR 2.1/2.2 and Smarty: logical device name 0-0:42.0.0 serves as the identifier.
  emeter_equipment_identifier_v2_x: {
    obis: "0-0:42.0.0",
    id: "emeter_equipment_identifier_v2_x",
    name: "Logical device name",
    codec: "hexText",
    meter: "electricity",
    diagnostic: true,
    role: "identifier",
  },
  emeter_meter_identifier: {
    obis: "0-0:96.1.0",
    id: "emeter_meter_identifier",
    name: "Meter serial number",
    codec: "hexText",
    meter: "electricity",
    diagnostic: true,
    role: "identifier",
  },

  // ---- Electricity: registers (5.0.2 table 6-1) ----
  emeter_delivery_tariff0: {
    obis: "1-0:1.8.0",
    id: "emeter_delivery_tariff0",
    name: "Energy delivered total",
    ...ENERGY,
  },
  emeter_delivery_tariff1: {
    obis: "1-0:1.8.1",
    id: "emeter_delivery_tariff1",
    name: "Energy delivered tariff 1",
    ...ENERGY,
  },
  emeter_delivery_tariff2: {
    obis: "1-0:1.8.2",
    id: "emeter_delivery_tariff2",
    name: "Energy delivered tariff 2",
    ...ENERGY,
  },
  emeter_production_tariff0: {
    obis: "1-0:2.8.0",
    id: "emeter_production_tariff0",
    name: "Energy produced total",
    ...ENERGY,
  },
  emeter_production_tariff1: {
    obis: "1-0:2.8.1",
    id: "emeter_production_tariff1",
    name: "Energy produced tariff 1",
    ...ENERGY,
  },
  emeter_production_tariff2: {
    obis: "1-0:2.8.2",
    id: "emeter_production_tariff2",
    name: "Energy produced tariff 2",
    ...ENERGY,
  },
  emeter_tariff_indicator: {
    obis: "0-0:96.14.0",
    id: "emeter_tariff_indicator",
    name: "Active tariff",
    codec: "decimal",
    meter: "electricity",
  },
  emeter_actual_delivery: {
    obis: "1-0:1.7.0",
    id: "emeter_actual_delivery",
    name: "Power delivered",
    ...POWER,
  },
  emeter_actual_production: {
    obis: "1-0:2.7.0",
    id: "emeter_actual_production",
    name: "Power produced",
    ...POWER,
  },

  // ---- Electricity: thresholds and switch; the unit of 0-0:17.0.0 differs per version ----
  emeter_treshold_kw: {
    obis: "0-0:17.0.0",
    id: "emeter_treshold_kw",
    name: "Power threshold",
    ...POWER_LIMIT,
  },
  emeter_treshold_a: {
    obis: "0-0:17.0.0",
    id: "emeter_treshold_a",
    name: "Current threshold",
    ...CURRENT_LIMIT,
  },
  emeter_active_threshold_smax: {
    obis: "0-0:17.0.0",
    id: "emeter_active_threshold_smax",
    name: "Apparent power threshold (Smax)",
    codec: "decimal",
    unit: "kVA",
    meter: "electricity",
    deviceClass: "apparent_power",
    diagnostic: true,
  },
  emeter_treshold_a_v2_1: {
    obis: "1-0:17.0.0",
    id: "emeter_treshold_a_v2_1",
    name: "Current threshold",
    ...CURRENT_LIMIT,
  },
  emeter_fuse_threshold_a: {
    obis: "1-0:31.4.0",
    id: "emeter_fuse_threshold_a",
    name: "Fuse supervision threshold L1",
    ...CURRENT_LIMIT,
  },
  emeter_switch_position: {
    obis: "0-0:96.3.10",
    id: "emeter_switch_position",
    name: "Breaker state",
    ...STATUS,
  },
  emeter_switch_position_v2_1: {
    obis: "1-0:96.3.10",
    id: "emeter_switch_position_v2_1",
    name: "Breaker state",
    ...STATUS,
  },

  // ---- Electricity: power quality (4.x, 5.0) ----
  emeter_power_failures: {
    obis: "0-0:96.7.21",
    id: "emeter_power_failures",
    name: "Power failures",
    ...COUNTER,
  },
  emeter_long_power_failures: {
    obis: "0-0:96.7.9",
    id: "emeter_long_power_failures",
    name: "Long power failures",
    ...COUNTER,
  },
  emeter_power_failure_log: {
    obis: "1-0:99.97.0",
    id: "emeter_power_failure_log",
    name: "Power failure log",
    codec: "failureLog",
    meter: "electricity",
    diagnostic: true,
  },
  emeter_voltage_sags_l1: {
    obis: "1-0:32.32.0",
    id: "emeter_voltage_sags_l1",
    name: "Voltage sags L1",
    ...COUNTER,
  },
  emeter_voltage_sags_l2: {
    obis: "1-0:52.32.0",
    id: "emeter_voltage_sags_l2",
    name: "Voltage sags L2",
    ...COUNTER,
  },
  emeter_voltage_sags_l3: {
    obis: "1-0:72.32.0",
    id: "emeter_voltage_sags_l3",
    name: "Voltage sags L3",
    ...COUNTER,
  },
  emeter_voltage_swells_l1: {
    obis: "1-0:32.36.0",
    id: "emeter_voltage_swells_l1",
    name: "Voltage swells L1",
    ...COUNTER,
  },
  emeter_voltage_swells_l2: {
    obis: "1-0:52.36.0",
    id: "emeter_voltage_swells_l2",
    name: "Voltage swells L2",
    ...COUNTER,
  },
  emeter_voltage_swells_l3: {
    obis: "1-0:72.36.0",
    id: "emeter_voltage_swells_l3",
    name: "Voltage swells L3",
    ...COUNTER,
  },

  // ---- Electricity: per phase (4.04+, 5.0, e-MUCS, Smarty) ----
  emeter_instant_voltage_l1: {
    obis: "1-0:32.7.0",
    id: "emeter_instant_voltage_l1",
    name: "Voltage L1",
    ...VOLTAGE,
  },
  emeter_instant_voltage_l2: {
    obis: "1-0:52.7.0",
    id: "emeter_instant_voltage_l2",
    name: "Voltage L2",
    ...VOLTAGE,
  },
  emeter_instant_voltage_l3: {
    obis: "1-0:72.7.0",
    id: "emeter_instant_voltage_l3",
    name: "Voltage L3",
    ...VOLTAGE,
  },
  emeter_instant_current_l1: {
    obis: "1-0:31.7.0",
    id: "emeter_instant_current_l1",
    name: "Current L1",
    ...CURRENT,
  },
  emeter_instant_current_l2: {
    obis: "1-0:51.7.0",
    id: "emeter_instant_current_l2",
    name: "Current L2",
    ...CURRENT,
  },
  emeter_instant_current_l3: {
    obis: "1-0:71.7.0",
    id: "emeter_instant_current_l3",
    name: "Current L3",
    ...CURRENT,
  },
  emeter_instant_power_delivery_l1: {
    obis: "1-0:21.7.0",
    id: "emeter_instant_power_delivery_l1",
    name: "Power delivered L1",
    ...POWER,
  },
  emeter_instant_power_delivery_l2: {
    obis: "1-0:41.7.0",
    id: "emeter_instant_power_delivery_l2",
    name: "Power delivered L2",
    ...POWER,
  },
  emeter_instant_power_delivery_l3: {
    obis: "1-0:61.7.0",
    id: "emeter_instant_power_delivery_l3",
    name: "Power delivered L3",
    ...POWER,
  },
  emeter_instant_power_production_l1: {
    obis: "1-0:22.7.0",
    id: "emeter_instant_power_production_l1",
    name: "Power produced L1",
    ...POWER,
  },
  emeter_instant_power_production_l2: {
    obis: "1-0:42.7.0",
    id: "emeter_instant_power_production_l2",
    name: "Power produced L2",
    ...POWER,
  },
  emeter_instant_power_production_l3: {
    obis: "1-0:62.7.0",
    id: "emeter_instant_power_production_l3",
    name: "Power produced L3",
    ...POWER,
  },

  // ---- Belgium e-MUCS 1.7 §4.2: capacity tariff ----
  emeter_actual_average_demand: {
    obis: "1-0:1.4.0",
    id: "emeter_actual_average_demand",
    name: "Current quarter-hour average demand",
    ...POWER,
  },
  emeter_max_demand_month: {
    obis: "1-0:1.6.0",
    id: "emeter_max_demand_month",
    name: "Peak demand this month",
    codec: "timestampedDecimal",
    unit: "kW",
    meter: "electricity",
    deviceClass: "power",
    stateClass: "measurement",
  },
  emeter_max_demand_history: {
    obis: "0-0:98.1.0",
    id: "emeter_max_demand_history",
    name: "Monthly peak demand, last 13 months",
    codec: "peakHistory",
    unit: "kW",
    meter: "electricity",
    diagnostic: true,
  },

  // ---- Luxembourg Smarty 1.1 §3.3: reactive energy and power ----
  emeter_total_imported_energy_register_q: {
    obis: "1-0:3.8.0",
    id: "emeter_total_imported_energy_register_q",
    name: "Reactive energy imported",
    ...REACTIVE_ENERGY,
  },
  emeter_total_exported_energy_register_q: {
    obis: "1-0:4.8.0",
    id: "emeter_total_exported_energy_register_q",
    name: "Reactive energy exported",
    ...REACTIVE_ENERGY,
  },
  emeter_actual_reactive_delivery: {
    obis: "1-0:3.7.0",
    id: "emeter_actual_reactive_delivery",
    name: "Reactive power imported",
    ...REACTIVE_POWER,
  },
  emeter_actual_reactive_production: {
    obis: "1-0:4.7.0",
    id: "emeter_actual_reactive_production",
    name: "Reactive power exported",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_delivery_l1: {
    obis: "1-0:23.7.0",
    id: "emeter_instant_reactive_power_delivery_l1",
    name: "Reactive power imported L1",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_delivery_l2: {
    obis: "1-0:43.7.0",
    id: "emeter_instant_reactive_power_delivery_l2",
    name: "Reactive power imported L2",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_delivery_l3: {
    obis: "1-0:63.7.0",
    id: "emeter_instant_reactive_power_delivery_l3",
    name: "Reactive power imported L3",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_production_l1: {
    obis: "1-0:24.7.0",
    id: "emeter_instant_reactive_power_production_l1",
    name: "Reactive power exported L1",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_production_l2: {
    obis: "1-0:44.7.0",
    id: "emeter_instant_reactive_power_production_l2",
    name: "Reactive power exported L2",
    ...REACTIVE_POWER,
  },
  emeter_instant_reactive_power_production_l3: {
    obis: "1-0:64.7.0",
    id: "emeter_instant_reactive_power_production_l3",
    name: "Reactive power exported L3",
    ...REACTIVE_POWER,
  },

  // ---- M-Bus sub-meters on channels 1-4 (DSMR 3.0+, e-MUCS) ----
  meter_device_type: {
    obis: "0-n:24.1.0",
    id: "meter_device_type",
    name: "Device type",
    codec: "decimal",
    meter: "mbus",
    diagnostic: true,
    role: "deviceType",
  },
  meter_equipment_identifier: {
    obis: "0-n:96.1.0",
    id: "meter_equipment_identifier",
    name: "Equipment identifier",
    codec: "hexText",
    meter: "mbus",
    diagnostic: true,
    role: "identifier",
  },
  // e-MUCS writes the M-Bus equipment identifier as 0-n:96.1.1.
  meter_equipment_identifier_emucs: {
    obis: "0-n:96.1.1",
    id: "meter_equipment_identifier",
    name: "Equipment identifier",
    codec: "hexText",
    meter: "mbus",
    diagnostic: true,
    role: "identifier",
  },
  meter_value: {
    obis: "0-n:24.2.1",
    id: "meter_value",
    name: "Reading",
    codec: "timestampedDecimal",
    meter: "mbus",
    stateClass: "total_increasing",
    role: "reading",
  },
  // e-MUCS 1.7 §4.3: gas volume not temperature-corrected.
  meter_value_uncorrected: {
    obis: "0-n:24.2.3",
    id: "meter_value",
    name: "Reading",
    codec: "timestampedDecimal",
    unit: "m3",
    meter: "mbus",
    stateClass: "total_increasing",
    role: "reading",
  },
  meter_value_v3: {
    obis: "0-n:24.3.0",
    id: "meter_value",
    name: "Reading",
    codec: "legacyGas",
    meter: "mbus",
    stateClass: "total_increasing",
    role: "reading",
  },
  meter_valve_switch_position: {
    obis: "0-n:24.4.0",
    id: "meter_valve_switch_position",
    name: "Valve position",
    codec: "decimal",
    meter: "mbus",
    diagnostic: true,
  },

  // ---- DSMR 2.1/2.2 sub-meters addressed by medium in value group A (7 gas, 8 water, 5 heat, 6 cooling) ----
  gmeter_equipment_identifier_v2: {
    obis: "7-0:0.0.0",
    id: "gmeter_equipment_identifier_v2",
    name: "Gas meter identifier",
    codec: "hexText",
    meter: "gas",
    diagnostic: true,
    role: "identifier",
  },
  gmeter_24h_delivery_v2: {
    obis: "7-0:23.1.0",
    id: "gmeter_24h_delivery_v2",
    name: "Gas delivered (daily reading)",
    codec: "legacyReading",
    unit: "m3",
    meter: "gas",
    deviceClass: "gas",
    stateClass: "total_increasing",
    role: "reading",
  },
  gmeter_24h_delivery_compensated_v2: {
    obis: "7-0:23.2.0",
    id: "gmeter_24h_delivery_compensated_v2",
    name: "Gas delivered, temperature compensated",
    codec: "legacyReading",
    unit: "m3",
    meter: "gas",
    deviceClass: "gas",
    stateClass: "total_increasing",
  },
  gmeter_valve_position_v2_1: {
    obis: "7-0:96.3.10",
    id: "gmeter_valve_position_v2_1",
    name: "Gas valve position",
    codec: "decimal",
    meter: "gas",
    diagnostic: true,
  },
  gmeter_valve_position_v2_2: {
    obis: "7-0:24.4.0",
    id: "gmeter_valve_position_v2_2",
    name: "Gas valve position",
    codec: "decimal",
    meter: "gas",
    diagnostic: true,
  },
  hmeter_equipment_identifier_v2_2: {
    obis: "5-0:0.0.0",
    id: "hmeter_equipment_identifier_v2_2",
    name: "Heat meter identifier",
    codec: "hexText",
    meter: "heat",
    diagnostic: true,
    role: "identifier",
  },
  hmeter_value_v2: {
    obis: "5-0:1.0.0",
    id: "hmeter_value_v2",
    name: "Heat delivered",
    codec: "legacyReading",
    unit: "GJ",
    meter: "heat",
    deviceClass: "energy",
    stateClass: "total_increasing",
    role: "reading",
  },
  cmeter_equipment_identifier_v2_2: {
    obis: "6-0:0.0.0",
    id: "cmeter_equipment_identifier_v2_2",
    name: "Cooling meter identifier",
    codec: "hexText",
    meter: "cooling",
    diagnostic: true,
    role: "identifier",
  },
  cmeter_value_v2: {
    obis: "6-0:1.0.0",
    id: "cmeter_value_v2",
    name: "Cooling delivered",
    codec: "legacyReading",
    unit: "GJ",
    meter: "cooling",
    deviceClass: "energy",
    stateClass: "total_increasing",
    role: "reading",
  },
  wmeter_equipment_identifier_v2_2: {
    obis: "8-0:0.0.0",
    id: "wmeter_equipment_identifier_v2_2",
    name: "Water meter identifier",
    codec: "hexText",
    meter: "water",
    diagnostic: true,
    role: "identifier",
  },
  wmeter_value_v2: {
    obis: "8-0:1.0.0",
    id: "wmeter_value_v2",
    name: "Water delivered",
    codec: "legacyReading",
    unit: "m3",
    meter: "water",
    deviceClass: "water",
    stateClass: "total_increasing",
    role: "reading",
  },
} as const satisfies Readonly<Record<string, ObjectDef>>);

/**
 * The table's definitions, each made again with every field in one order (absent ones undefined). The
 * presets spread into the literals above gave the definitions over a dozen hidden classes, so reading a
 * definition's `meter`, `codec` or `unit`, which the parser, the entity mapper and the store do for every
 * object of every telegram, was a megamorphic lookup each time (with Map lookups, the gateway's largest
 * overhead at 5,000 meters); one shape makes those reads monomorphic.
 */
function sameShape<T extends Readonly<Record<string, ObjectDef>>>(table: T): T {
  const out: Record<string, ObjectDef> = {};
  for (const [name, d] of Object.entries(table)) {
    // Typed with every key of ObjectDef required: a field added there and not here fails to compile.
    const every: { readonly [K in keyof ObjectDef]-?: ObjectDef[K] | undefined } = {
      obis: d.obis,
      id: d.id,
      name: d.name,
      codec: d.codec,
      unit: d.unit,
      meter: d.meter,
      deviceClass: d.deviceClass,
      stateClass: d.stateClass,
      diagnostic: d.diagnostic,
      role: d.role,
    };
    out[name] = every as ObjectDef;
  }
  return out as T;
}

/** Column header every power-failure log (1-0:99.97.0) writes: the failure event, DSMR 5.0.2 table 6-1. */
export const FAILURE_LOG_EVENT_OBIS = "0-0:96.7.19";

/** Name of an object definition in `OBJECTS`. */
export type ObjectName = keyof typeof OBJECTS;

/** M-Bus device types (EN 13757-3 table 3) as written in 0-n:24.1.0, and the meter kind each is. */
export const MBUS_DEVICE_TYPES = {
  2: "electricity",
  3: "gas",
  4: "heat",
  6: "water", // warm water
  7: "water",
  10: "cooling", // cooling, outlet
  11: "cooling", // cooling, inlet
  12: "heat", // heat, inlet
  13: "heat", // combined heat / cooling
  21: "water", // hot water
  22: "water", // cold water
} as const satisfies Readonly<Record<number, Exclude<MeterKind, "generic">>>;

/** When 0-n:24.1.0 is absent or unknown, the reading's unit tells the medium (DSMR 3.0 generic meters). */
export const MBUS_KIND_BY_UNIT = {
  m3: "gas",
  GJ: "heat",
  kWh: "electricity",
  MWh: "heat",
} as const satisfies Readonly<Record<string, MeterKind>>;

/**
 * Timestamps meters write for "no value": an M-Bus channel without a device (1970-01-01 / 700101010000W),
 * an empty failure-log slot (000101000001W), and Fluvius's gas placeholder with month 25 (632525252525W).
 */
export const PLACEHOLDER_TIMESTAMPS: ReadonlySet<string> = new Set([
  "700101010000W",
  "700101010000S",
  "000101000001W",
  "000101000000W",
  "632525252525W",
  "632525252525S",
]);
