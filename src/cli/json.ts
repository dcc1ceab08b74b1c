import type { CosemObject, Value } from "../dsmr/index.ts";
import type { Decoded } from "../gateway/index.ts";
import { discoverMeters } from "../meters/index.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The JSON form of one value, as DESIGN.md's `parse` contract defines it. */
export function valueToJson(v: Value): { [key: string]: Json } {
  switch (v.kind) {
    case "decimal":
      return v.unit === null ? { value: v.value } : { value: v.value, unit: v.unit };
    case "text":
      return { value: v.value };
    case "timestamp":
      return { value: v.value };
    case "reading":
      return v.unit === null
        ? { value: v.value, timestamp: v.timestamp }
        : { value: v.value, unit: v.unit, timestamp: v.timestamp };
    case "failureLog":
      return { value: v.entries.map((e) => ({ timestamp: e.timestamp, duration_s: e.durationS })) };
    case "peakHistory":
      return {
        value: v.entries.map((e) => ({
          month: e.month,
          timestamp: e.timestamp,
          value: e.value,
          unit: e.unit,
        })),
      };
    case "raw":
      return { value: v.values.length === 1 ? (v.values[0] as string) : [...v.values] };
  }
}

/** `objects` keyed by OBIS as written; an OBIS repeated in one telegram (ACE4000 hourly gas) becomes an array. */
function objectsToJson(objects: readonly CosemObject[]): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const o of objects) {
    const json = valueToJson(o.value);
    const existing = out[o.obis];
    if (existing === undefined) out[o.obis] = json;
    else if (Array.isArray(existing)) existing.push(json);
    else out[o.obis] = [existing, json];
  }
  return out;
}

/** One line of `p1-gateway parse` output. */
export function decodedToJson(d: Decoded): { [key: string]: Json } {
  if (!d.ok) return { ok: false, error: { code: d.error.code, message: d.error.message } };
  const t = d.telegram;
  const out: { [key: string]: Json } = {
    ok: true,
    version: t.version,
    crc: t.crc,
    header: t.header,
    objects: objectsToJson(t.objects),
    meters: discoverMeters(t).map((m) =>
      m.equipmentId === null
        ? { type: m.type, channel: m.channel }
        : { type: m.type, channel: m.channel, equipment_id: m.equipmentId },
    ),
  };
  if (t.unknown.length > 0) out.unknown = [...t.unknown];
  if (t.warnings.length > 0) out.warnings = [...t.warnings];
  if (d.encryption) {
    out.encryption = {
      system_title: d.encryption.systemTitle,
      frame_counter: d.encryption.frameCounter,
      counter: d.encryption.counter,
    };
  }
  return out;
}
