import type { ObjectName } from "./objects.ts";
import { SERIAL_9600_7E1, SERIAL_115200_8N1 } from "./serial.ts";
import type { SerialSettings } from "./types.ts";

/** One P1 protocol version: line settings, CRC, interval and the objects its telegrams carry, in order. */
export interface VersionDef {
  readonly title: string;
  readonly serial: SerialSettings;
  /** Telegrams end in '!' + CRC-16 (DSMR 4.0 and later). */
  readonly crc: boolean;
  /** How often the meter sends a telegram. */
  readonly intervalMs: number;
  /** Whether the meter usually encrypts the port (AES-128-GCM frames). */
  readonly encrypted: boolean;
  /** Objects of the main meter(s), in the order the spec lists them. */
  readonly objects: readonly ObjectName[];
  /** Objects written once per M-Bus channel (value group B = 1..4). */
  readonly mbusObjects: readonly ObjectName[];
  /** A header the spec shows for such a meter (the simulator uses it). */
  readonly exampleHeader: string;
}

// ---- Shared object lists; variants spread these, never copy them ----
const TARIFF_REGISTERS: readonly ObjectName[] = [
  "emeter_delivery_tariff1",
  "emeter_delivery_tariff2",
  "emeter_production_tariff1",
  "emeter_production_tariff2",
  "emeter_tariff_indicator",
];
const ACTUAL_POWER: readonly ObjectName[] = ["emeter_actual_delivery", "emeter_actual_production"];
const TEXT_MESSAGES: readonly ObjectName[] = ["p1_text_code", "p1_text_string"];
const POWER_QUALITY: readonly ObjectName[] = [
  "emeter_power_failures",
  "emeter_long_power_failures",
  "emeter_power_failure_log",
  "emeter_voltage_sags_l1",
  "emeter_voltage_sags_l2",
  "emeter_voltage_sags_l3",
  "emeter_voltage_swells_l1",
  "emeter_voltage_swells_l2",
  "emeter_voltage_swells_l3",
];
const PHASE_CURRENT: readonly ObjectName[] = [
  "emeter_instant_current_l1",
  "emeter_instant_current_l2",
  "emeter_instant_current_l3",
];
const PHASE_VOLTAGE: readonly ObjectName[] = [
  "emeter_instant_voltage_l1",
  "emeter_instant_voltage_l2",
  "emeter_instant_voltage_l3",
];
const PHASE_POWER: readonly ObjectName[] = [
  "emeter_instant_power_delivery_l1",
  "emeter_instant_power_delivery_l2",
  "emeter_instant_power_delivery_l3",
  "emeter_instant_power_production_l1",
  "emeter_instant_power_production_l2",
  "emeter_instant_power_production_l3",
];
const MBUS_V4: readonly ObjectName[] = [
  "meter_device_type",
  "meter_equipment_identifier",
  "meter_value",
  "meter_valve_switch_position",
];
const MBUS_V3: readonly ObjectName[] = [
  "meter_equipment_identifier",
  "meter_device_type",
  "meter_value_v3",
  "meter_valve_switch_position",
];
// DSMR 2.2 meters write the device type first (both 2.2 captures in the corpus).
const MBUS_V22: readonly ObjectName[] = [
  "meter_device_type",
  "meter_equipment_identifier",
  "meter_value_v3",
  "meter_valve_switch_position",
];
const DSMR4_HEAD: readonly ObjectName[] = [
  "p1_version_output",
  "p1_timestamp",
  "emeter_equipment_identifier",
  ...TARIFF_REGISTERS,
  ...ACTUAL_POWER,
];

// DSMR 2.2 and 3.0 differ only in the unit of their threshold (kW vs A).
const DSMR3_HEAD: readonly ObjectName[] = [
  "emeter_equipment_identifier",
  ...TARIFF_REGISTERS,
  ...ACTUAL_POWER,
];
const DSMR3_TAIL: readonly ObjectName[] = ["emeter_switch_position", ...TEXT_MESSAGES];

/** Line settings of the versions before DSMR 4: 9600 7E1, no CRC, every 10 s. */
const PRE_DSMR4_LINE = { serial: SERIAL_9600_7E1, crc: false, intervalMs: 10_000, encrypted: false } as const;
/** Line settings of DSMR 4.x: 115200 8N1, CRC, every 10 s. */
const DSMR4_LINE = { serial: SERIAL_115200_8N1, crc: true, intervalMs: 10_000, encrypted: false } as const;

const DSMR40_OBJECTS: readonly ObjectName[] = [
  ...DSMR4_HEAD,
  "emeter_treshold_kw",
  "emeter_switch_position",
  ...POWER_QUALITY,
  ...TEXT_MESSAGES,
];

/**
 * Every supported version by its CLI name. Sources: NTA 8130:2007 §5.4; DSMR P1 2.2 §5 and 3.0 §5
 * (9600 7E1, no CRC, every 10 s); DSMR 4.0.7 / 4.2.2 §6 (115200 8N1, CRC, every 10 s; 4.0.4 added
 * per-phase current and power); DSMR 5.0.2 §6 (every 1 s, voltages); Fluvius e-MUCS P1 1.7.1 (DSMR 5
 * based, every 1 s, capacity tariff objects); Luxembourg Smarty P1 1.1 (DSMR 4.2 based, encrypted,
 * reactive energy, every 10 s).
 */
export const VERSIONS = {
  nta8130: {
    title: "NTA 8130",
    ...PRE_DSMR4_LINE,
    // NTA 8130 meters name themselves with 0-0:42.0.0 and state no threshold.
    objects: [
      "emeter_equipment_identifier_v2_x",
      ...TARIFF_REGISTERS,
      ...ACTUAL_POWER,
      "emeter_switch_position",
      ...TEXT_MESSAGES,
    ],
    mbusObjects: [],
    exampleHeader: "ISk5\\2MT382-1000",
  },
  "2.1": {
    title: "DSMR 2.1",
    ...PRE_DSMR4_LINE,
    objects: [
      "emeter_equipment_identifier_v2_x",
      ...TARIFF_REGISTERS,
      "emeter_actual_delivery",
      "emeter_treshold_a_v2_1",
      "emeter_switch_position_v2_1",
      ...TEXT_MESSAGES,
      "gmeter_equipment_identifier_v2",
      "gmeter_24h_delivery_v2",
      "gmeter_24h_delivery_compensated_v2",
      "gmeter_valve_position_v2_1",
    ],
    mbusObjects: [],
    exampleHeader: "ISk5\\2MT382-1000",
  },
  "2.2": {
    title: "DSMR 2.2",
    ...PRE_DSMR4_LINE,
    objects: [...DSMR3_HEAD, "emeter_treshold_kw", ...DSMR3_TAIL],
    mbusObjects: MBUS_V22,
    exampleHeader: "ISk5\\2MT382-1004",
  },
  "3.0": {
    title: "DSMR 3.0",
    ...PRE_DSMR4_LINE,
    objects: [...DSMR3_HEAD, "emeter_treshold_a", ...DSMR3_TAIL],
    mbusObjects: MBUS_V3,
    exampleHeader: "ISk5\\2MT382-1000",
  },
  "4.0": {
    title: "DSMR 4.0",
    ...DSMR4_LINE,
    objects: DSMR40_OBJECTS,
    mbusObjects: MBUS_V4,
    exampleHeader: "KFM5KAIFA-METER",
  },
  "4.04": {
    title: "DSMR 4.0.4",
    ...DSMR4_LINE,
    // 4.0.4 added per-phase current and power to the 4.0 list.
    objects: [...DSMR40_OBJECTS, ...PHASE_CURRENT, ...PHASE_POWER],
    mbusObjects: MBUS_V4,
    exampleHeader: "XMX5LGBBFFB231215493",
  },
  "4.2": {
    title: "DSMR 4.2",
    ...DSMR4_LINE,
    objects: [...DSMR4_HEAD, ...POWER_QUALITY, ...TEXT_MESSAGES, ...PHASE_CURRENT, ...PHASE_POWER],
    mbusObjects: MBUS_V4,
    exampleHeader: "XMX5LGBBFG1009021021",
  },
  "5.0": {
    title: "DSMR 5.0",
    serial: SERIAL_115200_8N1,
    crc: true,
    intervalMs: 1_000,
    encrypted: false,
    objects: [
      ...DSMR4_HEAD,
      ...POWER_QUALITY,
      "p1_text_string",
      ...PHASE_VOLTAGE,
      ...PHASE_CURRENT,
      ...PHASE_POWER,
    ],
    mbusObjects: MBUS_V4,
    exampleHeader: "ISK5\\2M550T-1012",
  },
  emucs: {
    title: "Belgian e-MUCS (Fluvius)",
    serial: SERIAL_115200_8N1,
    crc: true,
    intervalMs: 1_000,
    encrypted: false,
    objects: [
      "p1_emucs_version_output",
      "emeter_equipment_identifier",
      "p1_timestamp",
      "emeter_delivery_tariff1",
      "emeter_delivery_tariff2",
      "emeter_production_tariff1",
      "emeter_production_tariff2",
      "emeter_actual_average_demand",
      "emeter_max_demand_month",
      "emeter_max_demand_history",
      "emeter_tariff_indicator",
      ...ACTUAL_POWER,
      ...PHASE_POWER,
      ...PHASE_VOLTAGE,
      ...PHASE_CURRENT,
      "emeter_switch_position",
      "emeter_treshold_kw",
      "emeter_fuse_threshold_a",
      "p1_text_string",
    ],
    mbusObjects: [
      "meter_device_type",
      "meter_equipment_identifier_emucs",
      "meter_valve_switch_position",
      "meter_value_uncorrected",
    ],
    exampleHeader: "FLU5\\253769484_A",
  },
  smarty: {
    title: "Luxembourg Smarty",
    serial: SERIAL_115200_8N1,
    crc: true,
    intervalMs: 10_000,
    encrypted: true,
    objects: [
      "p1_version_output",
      "p1_timestamp",
      "emeter_equipment_identifier_v2_x",
      "emeter_delivery_tariff0",
      "emeter_production_tariff0",
      "emeter_total_imported_energy_register_q",
      "emeter_total_exported_energy_register_q",
      ...ACTUAL_POWER,
      "emeter_actual_reactive_delivery",
      "emeter_actual_reactive_production",
      "emeter_active_threshold_smax",
      "emeter_switch_position",
      "emeter_power_failures",
      "emeter_voltage_sags_l1",
      "emeter_voltage_sags_l2",
      "emeter_voltage_sags_l3",
      "emeter_voltage_swells_l1",
      "emeter_voltage_swells_l2",
      "emeter_voltage_swells_l3",
      "p1_text_string",
      "p1_text_string_2",
      "p1_text_string_3",
      "p1_text_string_4",
      "p1_text_string_5",
      ...PHASE_CURRENT,
      ...PHASE_POWER,
      "emeter_instant_reactive_power_delivery_l1",
      "emeter_instant_reactive_power_delivery_l2",
      "emeter_instant_reactive_power_delivery_l3",
      "emeter_instant_reactive_power_production_l1",
      "emeter_instant_reactive_power_production_l2",
      "emeter_instant_reactive_power_production_l3",
    ],
    mbusObjects: MBUS_V4,
    exampleHeader: "Lux5\\253663629_D",
  },
} as const satisfies Readonly<Record<string, VersionDef>>;

/** A supported version's CLI name. */
export type VersionName = keyof typeof VERSIONS;

/** Version names in the order users read them (oldest first). */
export const VERSION_NAMES = Object.keys(VERSIONS) as VersionName[];

/** A rule that recognises a version from a telegram's content; the first matching rule wins. */
export interface DetectRule {
  readonly version: VersionName;
  /** Value of 1-3:0.2.8 the meter writes. */
  readonly p1Version?: string;
  /** The telegram has a CRC (true) or none (false). */
  readonly crc?: boolean;
  /** At least one of these OBIS references (normalised, channel written as `n`) is present. */
  readonly anyOf?: readonly string[];
  /** An object is present with this unit. */
  readonly unit?: { readonly obis: string; readonly unit: string };
}

/**
 * Version detection, in order. DSMR 4+ state their version in 1-3:0.2.8, e-MUCS in 0-0:96.1.4. Smarty
 * writes "42" but has totals, reactive registers and the 0-0:42.0.0 name no Dutch 4.2 meter has. Older
 * telegrams carry no marker and are told apart by dialect: DSMR 2.1 addresses breaker and threshold
 * with value group A=1, 2.2 has legacy sub-meter objects (A=5..8) or a kW threshold, 3.0 an ampere
 * threshold, M-Bus objects or the 0-0:96.1.1 identifier; NTA 8130 names itself with 0-0:42.0.0 only.
 * 1-3:0.2.8(40) is written by every DSMR 4.0.x meter; 4.0.4 and later add per-phase current and power,
 * which is how 4.04 is told apart. Telegrams with a CRC but no marker
 * (foreign DSMR dialects) match no rule and are parsed generically.
 */
export const DETECTION: readonly DetectRule[] = [
  { version: "emucs", anyOf: ["0-0:96.1.4"] },
  { version: "smarty", p1Version: "42", anyOf: ["0-0:42.0.0", "1-0:1.8.0", "1-0:3.8.0"] },
  { version: "5.0", p1Version: "50" },
  { version: "4.2", p1Version: "42" },
  { version: "4.04", p1Version: "40", anyOf: ["1-0:31.7.0", "1-0:21.7.0", "1-0:22.7.0"] },
  { version: "4.0", p1Version: "40" },
  { version: "2.1", crc: false, anyOf: ["1-0:96.3.10", "1-0:17.0.0", "7-0:96.3.10"] },
  {
    version: "2.2",
    crc: false,
    anyOf: ["7-0:0.0.0", "7-0:23.1.0", "7-0:24.4.0", "5-0:1.0.0", "6-0:1.0.0", "8-0:1.0.0"],
  },
  { version: "2.2", crc: false, unit: { obis: "0-0:17.0.0", unit: "kW" } },
  { version: "3.0", crc: false, unit: { obis: "0-0:17.0.0", unit: "A" } },
  { version: "3.0", crc: false, anyOf: ["0-n:24.3.0", "0-n:24.1.0", "0-0:96.1.1"] },
  { version: "nta8130", crc: false, anyOf: ["0-0:42.0.0"] },
];
