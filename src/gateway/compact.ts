/**
 * What an entity keeps of its latest state between telegrams, as numbers rather than strings. A state's
 * texts (the digits as written, the meter's ISO time) are new strings with every telegram that changes
 * them; kept in the entity until the meter's next telegram a second later, each lives through a few
 * young-generation collections, is copied by each and then promoted, and every one costs the scavenger an
 * old-to-new pointer as well: at 5,000 meters that was most of what each collection copied (issue 8, the
 * 5,000-meter p99). Both kinds of text are fixed by a few numbers, which V8 writes into the record in
 * place; the strings are built again only when a kept state is asked for (a new client's snapshot).
 * Texts of another form are kept as they are (the callers' fallback).
 */

import { daysInMonth } from "../dsmr/index.ts";

const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => (n < 10 ? `0${n}` : String(n)));
const ZERO = 0x30;
const NINE = 0x39;
const MINUS = 0x2d;
const POINT = 0x2e;

/*
 * ---- Times: "YYYY-MM-DDThh:mm:ss+hh:mm" (what the parser writes) as one number ----
 * The wall-clock seconds (as if UTC) times OFFSETS, plus the offset in minutes shifted to be positive:
 * exact in a double for years 0-9999 (below 2^53).
 */
const OFFSETS = 4096;
const OFFSET_BIAS = 2048;
const ISO_LENGTH = 25;
/** The separators of the ISO form, by position. */
const ISO_SEPARATORS: readonly [number, number][] = [
  [4, MINUS],
  [7, MINUS],
  [10, 0x54], // 'T'
  [13, 0x3a], // ':'
  [16, 0x3a],
  [22, 0x3a],
];

function digitsAt(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    n = n * 10 + c - ZERO;
  }
  return n;
}

/** The number for an ISO time of the parser's form, or NaN for any other text (kept as text then). */
export function timeCode(iso: string): number {
  if (iso.length !== ISO_LENGTH) return Number.NaN;
  for (const [at, c] of ISO_SEPARATORS) if (iso.charCodeAt(at) !== c) return Number.NaN;
  const sign = iso.charCodeAt(19);
  if (sign !== 0x2b && sign !== MINUS) return Number.NaN; // '+', '-'
  const year = digitsAt(iso, 0, 4);
  const month = digitsAt(iso, 5, 2);
  const day = digitsAt(iso, 8, 2);
  const hour = digitsAt(iso, 11, 2);
  const minute = digitsAt(iso, 14, 2);
  const second = digitsAt(iso, 17, 2);
  const offsetH = digitsAt(iso, 20, 2);
  const offsetM = digitsAt(iso, 23, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0)
    return Number.NaN;
  if (minute > 59 || second < 0 || second > 59 || offsetH < 0 || offsetH > 23 || offsetM < 0 || offsetM > 59)
    return Number.NaN;
  if (day > daysInMonth(year, month)) return Number.NaN;
  const wallS = daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
  const offset = (sign === MINUS ? -1 : 1) * (offsetH * 60 + offsetM);
  return wallS * OFFSETS + offset + OFFSET_BIAS;
}

/**
 * Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil):
 * integer arithmetic, where Date.UTC and a Date to check it cost a call and an object per telegram.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The last time built, and its code: a meter's entities share their telegram's time. */
let lastCode = Number.NaN;
let lastText = "";

/** The ISO time a timeCode stands for, written as the parser writes it. */
export function timeText(code: number): string {
  if (code !== lastCode) {
    lastText = buildTimeText(code);
    lastCode = code;
  }
  return lastText;
}

function buildTimeText(code: number): string {
  const biased = ((code % OFFSETS) + OFFSETS) % OFFSETS;
  const offset = biased - OFFSET_BIAS;
  const wall = new Date(((code - biased) / OFFSETS) * 1000);
  const year = String(wall.getUTCFullYear()).padStart(4, "0");
  const abs = Math.abs(offset);
  return (
    `${year}-${TWO_DIGITS[wall.getUTCMonth() + 1]}-${TWO_DIGITS[wall.getUTCDate()]}T` +
    `${TWO_DIGITS[wall.getUTCHours()]}:${TWO_DIGITS[wall.getUTCMinutes()]}:${TWO_DIGITS[wall.getUTCSeconds()]}` +
    `${offset < 0 ? "-" : "+"}${TWO_DIGITS[Math.floor(abs / 60)]}:${TWO_DIGITS[abs % 60]}`
  );
}

/*
 * ---- Digits: a number as the meter wrote it ("00230.1", "-0001.500") as its shape ----
 * A text of an optional '-', digits and at most one '.' with digits on both sides, holding at most 15
 * digits, is `value` padded with zeros to its length: its shape (length, decimals, sign) and the value
 * give it back exactly (a double holds 15 significant digits, and toFixed rounds to the nearest).
 */
const MAX_DIGITS = 15;
const POW10 = Array.from({ length: MAX_DIGITS + 1 }, (_, k) => 10 ** k);

/** No text (the value has none). */
export const NO_DIGITS = -1;
/** A text of another form: the caller keeps the string. */
export const OTHER_DIGITS = -2;

/**
 * The shape of `text` as the digits of `value` (>= 0); NO_DIGITS for null; OTHER_DIGITS when the text is
 * of another form or is not `value` (checked: the digits are read and compared).
 */
export function digitsShape(text: string | null, value: number | string): number {
  if (text === null) return NO_DIGITS;
  if (typeof value !== "number") return OTHER_DIGITS;
  const n = text.length;
  const negative = n > 0 && text.charCodeAt(0) === MINUS;
  let i = negative ? 1 : 0;
  let int = 0;
  let digits = 0;
  let point = -1;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= ZERO && c <= NINE) {
      int = int * 10 + c - ZERO;
      digits++;
    } else if (c === POINT && point === -1 && digits > 0) point = i;
    else return OTHER_DIGITS;
  }
  if (digits === 0 || digits > MAX_DIGITS || point === n - 1) return OTHER_DIGITS;
  const decimals = point === -1 ? 0 : n - 1 - point;
  const magnitude = int / (POW10[decimals] as number);
  if ((negative ? -magnitude : magnitude) !== value) return OTHER_DIGITS;
  return (n * 16 + decimals) * 2 + (negative ? 1 : 0);
}

/** The text of `value` in a shape digitsShape returned (>= 0). */
export function digitsText(value: number, shape: number): string {
  const negative = (shape & 1) === 1;
  const decimals = (shape >> 1) & 15;
  const length = shape >> 5;
  const body = Math.abs(value)
    .toFixed(decimals)
    .padStart(length - (negative ? 1 : 0), "0");
  return negative ? `-${body}` : body;
}
