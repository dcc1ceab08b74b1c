import { crc16, formatCrc } from "./crc.ts";
import {
  FAILURE_DURATION_FORMAT,
  LEGACY_GAS_GROUPS,
  type NumberFormat,
  READING_FORMAT_BY_UNIT,
  WRITE_CONVENTIONS,
  type WriteConvention,
} from "./spec/format.ts";
import { FAILURE_LOG_EVENT_OBIS, OBJECTS, type ObjectName } from "./spec/objects.ts";
import type { Codec, ObjectDef } from "./spec/types.ts";
import { VERSIONS, type VersionName } from "./spec/versions.ts";
import { formatTimestamp } from "./timestamp.ts";

export type { NumberFormat, WriteConvention } from "./spec/format.ts";

/** An instant as epoch milliseconds, or a P1 timestamp text written as is (placeholders: 700101010000W). */
export type P1Time = number | string;

/** A value to write, shaped after what the codec decodes (`dsmr/values.ts`). */
export type EncodeValue =
  | { readonly kind: "decimal"; readonly value: number; readonly unit?: string | null }
  | { readonly kind: "text"; readonly value: string }
  | { readonly kind: "timestamp"; readonly at: P1Time }
  | { readonly kind: "reading"; readonly value: number; readonly at: P1Time; readonly unit?: string | null }
  | {
      readonly kind: "failureLog";
      readonly entries: readonly { readonly at: P1Time; readonly durationS: number }[];
    }
  | {
      readonly kind: "peakHistory";
      readonly entries: readonly { readonly month: P1Time; readonly at: P1Time; readonly value: number }[];
    };

/** One object to write: its table name, the M-Bus channel for `0-n:` objects, and its value. */
export interface EncodeObject {
  readonly name: ObjectName;
  readonly channel?: number;
  readonly value: EncodeValue;
}

/** Which value kind each codec writes. */
const VALUE_KIND: Readonly<Record<Codec, EncodeValue["kind"]>> = {
  decimal: "decimal",
  string: "text",
  hexText: "text",
  timestamp: "timestamp",
  timestampedDecimal: "reading",
  legacyGas: "reading",
  legacyReading: "reading",
  failureLog: "failureLog",
  peakHistory: "peakHistory",
};

const CRLF = "\r\n";

/** The writing conventions of a version (number widths, night tariff, M-Bus capture period). */
export function writeConvention(version: VersionName): WriteConvention {
  return WRITE_CONVENTIONS[version];
}

/** The number format a version uses for an object; for M-Bus readings the unit decides. */
export function numberFormat(version: VersionName, name: ObjectName, unit?: string | null): NumberFormat {
  const own = writeConvention(version).numbers[name];
  if (own) return own;
  const byUnit = unit ? READING_FORMAT_BY_UNIT[unit] : undefined;
  return byUnit ?? { integer: 1, fraction: 3 };
}

/** Rounds a number to what the object's format can carry, so a model holds exactly what is written. */
export function quantize(
  version: VersionName,
  name: ObjectName,
  value: number,
  unit?: string | null,
): number {
  const { fraction } = numberFormat(version, name, unit);
  const scale = 10 ** fraction;
  return Math.round(value * scale) / scale;
}

/** Writes a number zero-padded to the format's width: 6.3 → 001234.567. */
export function formatNumber(value: number, format: NumberFormat): string {
  const fixed = Math.abs(value).toFixed(format.fraction);
  const [int = "0", frac] = fixed.split(".");
  const padded = int.padStart(format.integer, "0");
  return `${value < 0 ? "-" : ""}${frac === undefined ? padded : `${padded}.${frac}`}`;
}

function time(at: P1Time, withSeason: boolean): string {
  if (typeof at === "string") return at;
  const text = formatTimestamp(at);
  // DSMR 2.x/3.0 sub-meter timestamps carry no S/W flag (DSMR 3.0 P1 §5.3: YYMMDDhhmmss).
  return withSeason ? text : text.slice(0, 12);
}

function numberWithUnit(value: number, format: NumberFormat, unit: string | null | undefined): string {
  const digits = formatNumber(value, format);
  return unit && format.unit !== false ? `${digits}*${unit}` : digits;
}

function hexOf(text: string): string {
  return Buffer.from(text, "latin1").toString("hex").toUpperCase();
}

/** The OBIS reference as written: M-Bus objects get their channel in value group B. */
export function obisFor(def: ObjectDef, channel: number | undefined): string {
  return def.obis.includes("-n:") ? def.obis.replace("-n:", `-${channel ?? 1}:`) : def.obis;
}

/** The groups of one object line, and a group written on the next line (DSMR 2.2/3.0 legacy gas value). */
function groupsOf(
  version: VersionName,
  obj: EncodeObject,
  def: ObjectDef,
): { groups: string[]; nextLine?: string } {
  const v = obj.value;
  const expected = VALUE_KIND[def.codec];
  if (v.kind !== expected)
    throw new Error(`${obj.name}: codec ${def.codec} writes ${expected}, got ${v.kind}`);
  switch (v.kind) {
    case "decimal": {
      const unit = v.unit === undefined ? def.unit : v.unit;
      return { groups: [numberWithUnit(v.value, numberFormat(version, obj.name, unit), unit)] };
    }
    case "text":
      return { groups: [def.codec === "hexText" ? hexOf(v.value) : v.value] };
    case "timestamp":
      return { groups: [time(v.at, true)] };
    case "reading": {
      const unit = v.unit === undefined ? (def.unit ?? null) : v.unit;
      const format = numberFormat(version, obj.name, unit);
      if (def.codec === "legacyGas") {
        // (ts)(00)(60)(1)(0-n:24.2.1)(m3) CR LF (value): DSMR 3.0 P1 §5.3, value on its own line.
        const ref = `0-${obj.channel ?? 1}:24.2.1`;
        return {
          groups: [time(v.at, false), ...LEGACY_GAS_GROUPS, ref, unit ?? ""],
          nextLine: formatNumber(v.value, format),
        };
      }
      if (def.codec === "legacyReading")
        return { groups: [numberWithUnit(v.value, format, unit), time(v.at, false)] };
      return { groups: [time(v.at, true), numberWithUnit(v.value, format, unit)] };
    }
    case "failureLog":
      return {
        groups: [
          String(v.entries.length),
          FAILURE_LOG_EVENT_OBIS,
          ...v.entries.flatMap((e) => [
            time(e.at, true),
            numberWithUnit(e.durationS, FAILURE_DURATION_FORMAT, "s"),
          ]),
        ],
      };
    case "peakHistory": {
      const format = numberFormat(version, obj.name, def.unit);
      const ref = OBJECTS.emeter_max_demand_month.obis;
      return {
        groups: [
          String(v.entries.length),
          ref,
          ref,
          ...v.entries.flatMap((e) => [
            time(e.month, true),
            time(e.at, true),
            numberWithUnit(e.value, format, def.unit),
          ]),
        ],
      };
    }
  }
}

/** One object line without its final line end. */
export function encodeLine(version: VersionName, obj: EncodeObject): string {
  const def: ObjectDef = OBJECTS[obj.name];
  const { groups, nextLine } = groupsOf(version, obj, def);
  const line = obisFor(def, obj.channel) + groups.map((g) => `(${g})`).join("");
  return nextLine === undefined ? line : `${line}${CRLF}(${nextLine})`;
}

/**
 * Writes a telegram as a meter of `version` would: '/' + header, a blank line, one line per object,
 * '!' and, when the version has one, the CRC-16 in four upper-case hex digits; CR LF line ends.
 */
export function encodeTelegram(
  version: VersionName,
  header: string,
  objects: readonly EncodeObject[],
): Buffer {
  const body = `/${header}${CRLF}${CRLF}${objects.map((o) => encodeLine(version, o) + CRLF).join("")}!`;
  const bytes = Buffer.from(body, "latin1");
  const crc = VERSIONS[version].crc ? formatCrc(crc16(bytes)) : "";
  return Buffer.concat([bytes, Buffer.from(`${crc}${CRLF}`, "latin1")]);
}
