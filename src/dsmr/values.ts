import { BoundedMemo } from "./memo.ts";
import { PLACEHOLDER_TIMESTAMPS } from "./spec/objects.ts";
import type { Codec } from "./spec/types.ts";
import { parseTimestamp } from "./timestamp.ts";

/** A number as the meter wrote it: `text` keeps the exact digits so registers are never rounded. */
export interface Decimal {
  readonly value: number;
  readonly text: string;
  readonly unit: string | null;
}

/** One entry of the power-failure event log (1-0:99.97.0). */
export interface FailureLogEntry {
  /** End of the failure, ISO 8601; null for the meters' empty-slot placeholder. */
  readonly timestamp: string | null;
  readonly durationS: number;
}

/** One month of the e-MUCS peak-demand history (0-0:98.1.0). */
export interface PeakEntry {
  /** Start of the month the peak belongs to. */
  readonly month: string | null;
  /** When the quarter-hour peak occurred. */
  readonly timestamp: string | null;
  readonly value: number;
  readonly text: string;
  readonly unit: string | null;
}

/** A decoded COSEM value. */
export type Value =
  | ({ readonly kind: "decimal" } & Decimal)
  | { readonly kind: "text"; readonly value: string; readonly raw: string }
  | { readonly kind: "timestamp"; readonly value: string | null; readonly raw: string }
  | ({ readonly kind: "reading"; readonly timestamp: string | null; readonly rawTimestamp: string } & Decimal)
  | { readonly kind: "failureLog"; readonly entries: readonly FailureLogEntry[] }
  | { readonly kind: "peakHistory"; readonly entries: readonly PeakEntry[] }
  | { readonly kind: "raw"; readonly values: readonly string[] };

// Digits with optional sign and fraction, then an optional unit with or without the '*' separator
// (some Fluvius meters write "000123.456kWh"). parseDecimal implements exactly this by hand.
export const DECIMAL_RE = /^([+-]?\d+(?:\.\d+)?)(?:\*?([A-Za-z][A-Za-z0-9]*))?$/;
const HEX_RE = /^(?:[0-9A-Fa-f]{2})+$/;
const OBIS_RE = /^\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Parses one "(123.4*kW)" group body; undefined when it is not a number. Equivalent to DECIMAL_RE
 * (kept as the specification; a property test holds the two together) but scans by hand: this runs
 * for most lines of every telegram.
 */
export function parseDecimal(text: string, defaultUnit: string | null = null): Decimal | undefined {
  const end = scanDecimal(text);
  if (end < 0) return undefined;
  return {
    value: scannedValue,
    text: decimalDigits(text, end),
    unit: unitOf(text, end, defaultUnit),
  };
}

/** Digits that always form an exact integer in a double (below 2^53). */
export const EXACT_DIGITS = 15;
/** Powers of ten up to 10^EXACT_DIGITS, all exact doubles: n digits / 10^k is the correctly rounded value. */
export const POW10: readonly number[] = Array.from({ length: EXACT_DIGITS + 1 }, (_, k) => 10 ** k);

/**
 * The value of the number scanDecimal accepted last (it reads the digits once, for both; the two
 * callers use it right away). Computed without Number()'s general string-to-double path: up to
 * EXACT_DIGITS digits form an exact integer, and an exact integer divided by an exact power of ten is the correctly
 * rounded double, the same one Number() gives.
 */
let scannedValue = 0;

/**
 * Where the number of a decimal group ends (its unit, if any, follows), or -1 when the text is not
 * digits with optional sign and fraction followed by an optional unit (DECIMAL_RE). Sets scannedValue.
 */
function scanDecimal(text: string): number {
  const n = text.length;
  let i = 0;
  let c = codeAt(text, 0);
  const negative = c === 0x2d;
  if (c === 0x2b || c === 0x2d) c = codeAt(text, ++i); // sign
  const digitsFrom = i;
  let v = 0;
  while (c >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    c = codeAt(text, ++i);
  }
  if (i === digitsFrom) return -1;
  let fractionDigits = 0;
  if (c === 0x2e) {
    const fracFrom = ++i;
    c = codeAt(text, i);
    while (c >= 0x30 && c <= 0x39) {
      v = v * 10 + (c - 0x30);
      c = codeAt(text, ++i);
    }
    fractionDigits = i - fracFrom;
    if (fractionDigits === 0) return -1;
  }
  const numberEnd = i;
  if (i < n) {
    if (c === 0x2a) c = codeAt(text, ++i); // '*'
    if (!isLetter(c)) return -1;
    while (i < n && (isLetter(c) || (c >= 0x30 && c <= 0x39))) c = codeAt(text, ++i);
    if (i !== n) return -1;
  }
  const digits = numberEnd - digitsFrom - (fractionDigits > 0 ? 1 : 0);
  if (digits > EXACT_DIGITS) scannedValue = Number(text.slice(0, numberEnd));
  else {
    const value = fractionDigits > 0 ? v / (POW10[fractionDigits] as number) : v;
    scannedValue = negative ? -value : value;
  }
  return numberEnd;
}

/** The digits of a group scanDecimal accepted. */
function decimalDigits(text: string, numberEnd: number): string {
  return numberEnd === text.length ? text : text.slice(0, numberEnd);
}

/** The unit written after the number, else `defaultUnit`; the table's own string when they are equal. */
function unitOf(text: string, numberEnd: number, defaultUnit: string | null): string | null {
  if (numberEnd === text.length) return defaultUnit;
  const from = text.charCodeAt(numberEnd) === 0x2a ? numberEnd + 1 : numberEnd; // '*'
  // Meters write the unit the table expects: compare rather than cut a new string per value.
  if (defaultUnit !== null && text.length - from === defaultUnit.length && text.startsWith(defaultUnit, from))
    return defaultUnit;
  return text.slice(from);
}

/**
 * The character code at `i`, or -1 past the end. scanDecimal reads one past a group's end: charCodeAt
 * there gives NaN, but through a call of V8's builtin in place of the inlined read (1-2 % of a parse).
 */
function codeAt(text: string, i: number): number {
  return i < text.length ? text.charCodeAt(i) : -1;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Decodes hex-encoded ASCII (equipment ids, text messages); the raw text when it is not printable hex. */
export function decodeHexText(raw: string): string {
  return raw.length === 0 ? raw : HEX_TEXTS.get(raw);
}

const HEX_TEXTS = new BoundedMemo<string>(1024, (raw) => {
  if (!HEX_RE.test(raw)) return raw;
  const bytes = Buffer.from(raw, "hex");
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return raw;
  return bytes.toString("latin1");
});

/**
 * ISO timestamp, or null for placeholders and impossible dates. Not memoised: a timestamp that repeats
 * comes in a line the parser reuses whole, so a changed line's timestamp is almost always new.
 */
function timestampOrNull(raw: string): string | null {
  return PLACEHOLDER_TIMESTAMPS.has(raw) ? null : (parseTimestamp(raw) ?? null);
}

type Decoder = (groups: readonly string[], unit: string | null) => Value | string;

function decimal(groups: readonly string[], unit: string | null): Value | string {
  if (groups.length !== 1) return `expected 1 value, got ${groups.length}`;
  const raw = groups[0] as string;
  const end = scanDecimal(raw);
  if (end < 0) return `not a number: ${JSON.stringify(raw)}`;
  return new DecimalValue(scannedValue, decimalDigits(raw, end), unitOf(raw, end, unit));
}

/*
 * The values that change in most telegrams (decimals, the telegram's timestamp) come from classes, not
 * literals: V8 decides per literal whether to allocate its objects straight in the old generation, from
 * how many survived, and a meter's first telegram keeps them all (see RawLine in parse.ts).
 */

/** A decimal value, built once, field by field (an intermediate Decimal or a spread is slower here). */
class DecimalValue {
  readonly kind = "decimal";
  readonly value: number;
  readonly text: string;
  readonly unit: string | null;

  constructor(value: number, text: string, unit: string | null) {
    this.value = value;
    this.text = text;
    this.unit = unit;
  }
}

class TimestampValue {
  readonly kind = "timestamp";
  readonly value: string | null;
  readonly raw: string;

  constructor(value: string | null, raw: string) {
    this.value = value;
    this.raw = raw;
  }
}

function reading(ts: string, valueText: string, unit: string | null): Value | string {
  const d = parseDecimal(valueText, unit);
  if (!d) return `not a number: ${JSON.stringify(valueText)}`;
  return {
    kind: "reading",
    value: d.value,
    text: d.text,
    unit: d.unit,
    timestamp: timestampOrNull(ts),
    rawTimestamp: ts,
  };
}

/** Codec implementations, one per codec name of the spec tables. */
const DECODERS: Readonly<Record<Codec, Decoder>> = {
  decimal,
  string: (groups) =>
    groups.length === 1
      ? { kind: "text", value: groups[0] as string, raw: groups[0] as string }
      : `expected 1 value, got ${groups.length}`,
  hexText: (groups) => {
    if (groups.length !== 1) return `expected 1 value, got ${groups.length}`;
    const raw = groups[0] as string;
    return { kind: "text", value: decodeHexText(raw), raw };
  },
  timestamp: (groups) => {
    if (groups.length !== 1) return `expected 1 value, got ${groups.length}`;
    const raw = groups[0] as string;
    return new TimestampValue(timestampOrNull(raw), raw);
  },
  timestampedDecimal: (groups, unit) =>
    groups.length === 2
      ? reading(groups[0] as string, groups[1] as string, unit)
      : `expected 2 values, got ${groups.length}`,
  // (timestamp)(00)(60)(1)(0-n:24.2.1)(m3)(value): unit in the 6th group, value in the 7th.
  legacyGas: (groups, unit) =>
    groups.length === 7
      ? reading(groups[0] as string, groups[6] as string, groups[5] || unit)
      : `expected 7 values, got ${groups.length}`,
  legacyReading: (groups, unit) =>
    groups.length === 2
      ? reading(groups[1] as string, groups[0] as string, unit)
      : `expected 2 values, got ${groups.length}`,
  failureLog: (groups) => {
    // (count)(0-0:96.7.19) then (end timestamp)(duration*s) per entry.
    const count = Number(groups[0]);
    if (!Number.isInteger(count) || groups.length < 1) return "failure log without an entry count";
    const pairs = groups.length >= 2 ? groups.slice(2) : [];
    if (pairs.length % 2 !== 0 || pairs.length / 2 !== count) {
      return `failure log announces ${count} entries but holds ${pairs.length / 2}`;
    }
    const entries: FailureLogEntry[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const duration = parseDecimal(pairs[i + 1] as string);
      if (!duration) return `failure log duration is not a number: ${JSON.stringify(pairs[i + 1])}`;
      entries.push({ timestamp: timestampOrNull(pairs[i] as string), durationS: duration.value });
    }
    return { kind: "failureLog", entries };
  },
  peakHistory: (groups, unit) => {
    // (count)(1-0:1.6.0)(1-0:1.6.0) then (month start)(peak time)(value*kW) per month.
    const count = Number(groups[0]);
    if (!Number.isInteger(count) || !OBIS_RE.test(groups[1] ?? "") || !OBIS_RE.test(groups[2] ?? "")) {
      return "peak history must start with a count and two OBIS references";
    }
    const triples = groups.slice(3);
    if (triples.length !== count * 3)
      return `peak history announces ${count} months but holds ${triples.length / 3}`;
    const entries: PeakEntry[] = [];
    for (let i = 0; i < triples.length; i += 3) {
      const d = parseDecimal(triples[i + 2] as string, unit);
      if (!d) return `peak value is not a number: ${JSON.stringify(triples[i + 2])}`;
      entries.push({
        month: timestampOrNull(triples[i] as string),
        timestamp: timestampOrNull(triples[i + 1] as string),
        ...d,
      });
    }
    return { kind: "peakHistory", entries };
  },
};

/** Decodes an object's groups with the named codec; a string explains why they do not fit. */
export function decodeValue(
  codec: Codec,
  groups: readonly string[],
  defaultUnit: string | null,
): Value | string {
  // Most values of most telegrams are decimals: a direct call the compiler can inline, rather than one
  // through the table (a lookup by a varying key, then a call to one of nine functions).
  return codec === "decimal" ? decimal(groups, defaultUnit) : DECODERS[codec](groups, defaultUnit);
}

/** Best-effort decoding of an object no table knows: one number, one timestamp, or the raw groups. */
export function decodeUnknown(groups: readonly string[]): Value {
  if (groups.length === 1) {
    const only = groups[0] as string;
    const d = parseDecimal(only);
    if (d) return { kind: "decimal", ...d };
  }
  if (groups.length === 2) {
    const r = reading(groups[0] as string, groups[1] as string, null);
    if (typeof r !== "string" && r.kind === "reading" && r.timestamp !== null) return r;
  }
  return { kind: "raw", values: groups };
}
