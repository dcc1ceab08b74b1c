import {
  type EncodeValue,
  type ObjectName,
  quantize,
  type VersionName,
  writeConvention,
} from "../src/dsmr/index.ts";
import { MBUS_MEDIA, type MbusState, type MeterModel } from "./model.ts";

/** What an object's value is computed from. */
export interface ValueContext {
  readonly model: MeterModel;
  readonly version: VersionName;
  /** M-Bus sub-meter for `0-n:` objects. */
  readonly mbus: MbusState | undefined;
  /** Time the meter's clock shows (differs from model time under a clock fault). */
  readonly clock: number;
  readonly phases: 1 | 3;
}

type Source = (c: ValueContext, name: ObjectName) => EncodeValue | undefined;

const kw =
  (watts: number): Source =>
  (c, name) => ({ kind: "decimal", value: quantize(c.version, name, watts / 1000) });
const fixed =
  (value: number): Source =>
  (c, name) => ({ kind: "decimal", value: quantize(c.version, name, value) });
const count =
  (value: (m: MeterModel) => number): Source =>
  (c) => ({ kind: "decimal", value: value(c.model) });
const text =
  (value: (c: ValueContext) => string): Source =>
  (c) => ({ kind: "text", value: value(c) });
const kwh =
  (units: (m: MeterModel) => number): Source =>
  (c) => ({ kind: "decimal", value: units(c.model) / 1000 });

/** A per-phase value, omitted for phases a single-phase meter does not have. */
function perPhase(p: number, value: (c: ValueContext, watts: number) => number): Source {
  return (c, name) =>
    p < c.phases
      ? { kind: "decimal", value: quantize(c.version, name, value(c, c.model.phaseW[p] ?? 0)) }
      : undefined;
}
const phaseImport = (p: number) => perPhase(p, (_c, w) => Math.max(0, w) / 1000);
const phaseExport = (p: number) => perPhase(p, (_c, w) => Math.max(0, -w) / 1000);
const phaseReactiveImport = (p: number) => perPhase(p, (_c, w) => (Math.max(0, w) * 0.3) / 1000);
const phaseReactiveExport = (p: number) => perPhase(p, (_c, w) => (Math.max(0, -w) * 0.05) / 1000);
const phaseCurrent = (p: number) => perPhase(p, (c, w) => Math.abs(w) / (c.model.voltage[p] ?? 230));
const phaseVoltage = (p: number) => perPhase(p, (c) => c.model.voltage[p] ?? 230);

const mbusReading: Source = (c, name) => {
  const m = c.mbus;
  if (!m) return undefined;
  const unit = MBUS_MEDIA[m.device.kind].unit;
  return { kind: "reading", value: quantize(c.version, name, m.capture.value, unit), at: m.capture.at, unit };
};
const gasDevice = (c: ValueContext): MbusState | undefined =>
  c.model.mbus.find((m) => m.device.kind === "gas");
const legacyGas: Source = (c, name) => mbusReading({ ...c, mbus: gasDevice(c) }, name);

/**
 * How the model fills each object of the tables. Keyed by object name, so every version that lists an
 * object gets the same quantity; a version's own widths come from `writeConvention`. Undefined = omitted.
 */
export const VALUE_SOURCES: Readonly<Partial<Record<ObjectName, Source>>> = {
  p1_version_output: (c) => {
    const v = writeConvention(c.version).versionText;
    return v === undefined ? undefined : { kind: "text", value: v };
  },
  p1_emucs_version_output: (c) => {
    const v = writeConvention(c.version).versionText;
    return v === undefined ? undefined : { kind: "text", value: v };
  },
  p1_timestamp: (c) => ({ kind: "timestamp", at: c.clock }),
  p1_text_code: text(() => ""),
  p1_text_string: text((c) => c.model.text),
  p1_text_string_2: text(() => ""),
  p1_text_string_3: text(() => ""),
  p1_text_string_4: text(() => ""),
  p1_text_string_5: text(() => ""),
  emeter_equipment_identifier: text((c) => c.model.equipmentId),
  emeter_equipment_identifier_v2_x: text((c) => c.model.equipmentId),
  emeter_delivery_tariff0: kwh((m) => m.delivered[0].units + m.delivered[1].units),
  emeter_delivery_tariff1: kwh((m) => m.delivered[0].units),
  emeter_delivery_tariff2: kwh((m) => m.delivered[1].units),
  emeter_production_tariff0: kwh((m) => m.produced[0].units + m.produced[1].units),
  emeter_production_tariff1: kwh((m) => m.produced[0].units),
  emeter_production_tariff2: kwh((m) => m.produced[1].units),
  emeter_tariff_indicator: count((m) => m.tariff),
  emeter_actual_delivery: (c, name) => kw(Math.max(0, c.model.netW))(c, name),
  emeter_actual_production: (c, name) => kw(Math.max(0, -c.model.netW))(c, name),
  emeter_treshold_kw: fixed(999.9),
  emeter_treshold_a: fixed(16),
  emeter_treshold_a_v2_1: fixed(999),
  emeter_active_threshold_smax: fixed(12.3),
  emeter_fuse_threshold_a: fixed(999),
  emeter_switch_position: fixed(1),
  emeter_switch_position_v2_1: fixed(1),
  emeter_power_failures: count((m) => m.powerFailures),
  emeter_long_power_failures: count((m) => m.longPowerFailures),
  emeter_power_failure_log: (c) => ({
    kind: "failureLog",
    entries: c.model.failureLog.map((e) => ({ at: e.at, durationS: e.durationS })),
  }),
  emeter_voltage_sags_l1: count((m) => m.sags[0] ?? 0),
  emeter_voltage_sags_l2: (c, name) => (c.phases > 1 ? count((m) => m.sags[1] ?? 0)(c, name) : undefined),
  emeter_voltage_sags_l3: (c, name) => (c.phases > 1 ? count((m) => m.sags[2] ?? 0)(c, name) : undefined),
  emeter_voltage_swells_l1: count((m) => m.swells[0] ?? 0),
  emeter_voltage_swells_l2: (c, name) => (c.phases > 1 ? count((m) => m.swells[1] ?? 0)(c, name) : undefined),
  emeter_voltage_swells_l3: (c, name) => (c.phases > 1 ? count((m) => m.swells[2] ?? 0)(c, name) : undefined),
  emeter_instant_voltage_l1: phaseVoltage(0),
  emeter_instant_voltage_l2: phaseVoltage(1),
  emeter_instant_voltage_l3: phaseVoltage(2),
  emeter_instant_current_l1: phaseCurrent(0),
  emeter_instant_current_l2: phaseCurrent(1),
  emeter_instant_current_l3: phaseCurrent(2),
  emeter_instant_power_delivery_l1: phaseImport(0),
  emeter_instant_power_delivery_l2: phaseImport(1),
  emeter_instant_power_delivery_l3: phaseImport(2),
  emeter_instant_power_production_l1: phaseExport(0),
  emeter_instant_power_production_l2: phaseExport(1),
  emeter_instant_power_production_l3: phaseExport(2),
  emeter_actual_average_demand: (c, name) => kw(c.model.averageDemandW)(c, name),
  emeter_max_demand_month: (c, name) => ({
    kind: "reading",
    value: quantize(c.version, name, c.model.monthPeak.watts / 1000),
    at: c.model.monthPeak.at,
  }),
  emeter_max_demand_history: (c, name) => ({
    kind: "peakHistory",
    entries: c.model.peakHistory.map((p) => ({
      month: p.month,
      at: p.at,
      value: quantize(c.version, name, p.watts / 1000),
    })),
  }),
  emeter_total_imported_energy_register_q: kwh((m) => m.reactiveImported.units),
  emeter_total_exported_energy_register_q: kwh((m) => m.reactiveExported.units),
  emeter_actual_reactive_delivery: (c, name) => kw(Math.max(0, c.model.netW) * 0.3)(c, name),
  emeter_actual_reactive_production: (c, name) => kw(Math.max(0, -c.model.netW) * 0.05)(c, name),
  emeter_instant_reactive_power_delivery_l1: phaseReactiveImport(0),
  emeter_instant_reactive_power_delivery_l2: phaseReactiveImport(1),
  emeter_instant_reactive_power_delivery_l3: phaseReactiveImport(2),
  emeter_instant_reactive_power_production_l1: phaseReactiveExport(0),
  emeter_instant_reactive_power_production_l2: phaseReactiveExport(1),
  emeter_instant_reactive_power_production_l3: phaseReactiveExport(2),
  meter_device_type: (c) =>
    c.mbus ? { kind: "decimal", value: MBUS_MEDIA[c.mbus.device.kind].deviceType } : undefined,
  meter_equipment_identifier: (c) => (c.mbus ? { kind: "text", value: c.mbus.id } : undefined),
  meter_equipment_identifier_emucs: (c) => (c.mbus ? { kind: "text", value: c.mbus.id } : undefined),
  meter_value: mbusReading,
  meter_value_uncorrected: mbusReading,
  meter_value_v3: mbusReading,
  meter_valve_switch_position: (c) => (c.mbus ? { kind: "decimal", value: 1 } : undefined),
  gmeter_equipment_identifier_v2: (c) => {
    const g = gasDevice(c);
    return g ? { kind: "text", value: g.id } : undefined;
  },
  gmeter_24h_delivery_v2: legacyGas,
  gmeter_24h_delivery_compensated_v2: legacyGas,
  gmeter_valve_position_v2_1: (c) => (gasDevice(c) ? { kind: "decimal", value: 1 } : undefined),
};
