/**
 * P1 timestamps: YYMMDDhhmmssX, local Dutch/Belgian/Luxembourg time, X = 'S' (summer, UTC+2) or 'W'
 * (winter, UTC+1) per DSMR 5.0.2 §6.4. DSMR 2.2/3.0 gas readings omit X; then the EU summer-time rule
 * (last Sunday of March to last Sunday of October, switching at 01:00 UTC) decides.
 */
/** The compact form; parseTimestamp implements it (and the dashed form) by hand, a property test holds them together. */
export const TIMESTAMP_RE = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SWsw]?)$/;
/** Pre-DSMR meters (ACE4000) write "19-01-01 00:00:00". */
export const DASHED_TIMESTAMP_RE = /^(\d{2})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** "00" to "99": the output's fields without building a string per field. */
const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => (n < 10 ? `0${n}` : String(n)));
const DASHED_SEPARATORS = "-- ::";

/**
 * Parses a P1 timestamp to ISO 8601 with offset; undefined when it is not a valid date and time. Scans
 * by hand (this runs for every changed timestamp of every telegram): the same as TIMESTAMP_RE, then
 * DASHED_TIMESTAMP_RE.
 */
export function parseTimestamp(text: string): string | undefined {
  // The six two-digit fields (YY MM DD hh mm ss) are `step` apart: adjacent, or with a separator.
  let step: number;
  if (text.length === 12 || text.length === 13) step = 2;
  else if (text.length === 17) {
    step = 3;
    for (let k = 0; k < DASHED_SEPARATORS.length; k++)
      if (text.charCodeAt(3 * k + 2) !== DASHED_SEPARATORS.charCodeAt(k)) return undefined;
  } else return undefined;
  const yy = twoDigits(text, 0);
  const mo = twoDigits(text, step);
  const dd = twoDigits(text, 2 * step);
  const hh = twoDigits(text, 3 * step);
  const mi = twoDigits(text, 4 * step);
  const ss = twoDigits(text, 5 * step);
  if (yy < 0 || mo < 0 || dd < 0 || hh < 0 || mi < 0 || ss < 0) return undefined;
  let flag = "";
  if (text.length === 13) {
    const c = text.charCodeAt(12) | 0x20; // lower case
    if (c !== 0x73 && c !== 0x77) return undefined; // 's', 'w'
    flag = c === 0x73 ? "S" : "W";
  }
  const year = 2000 + yy;
  if (mo < 1 || mo > 12 || dd < 1 || dd > daysInMonth(year, mo) || hh > 23 || mi > 59 || ss > 59)
    return undefined;
  const summer = flag === "S" || (flag === "" && isEuSummerTime(Date.UTC(year, mo - 1, dd, hh - 1, mi, ss)));
  // Up to the minute from the memo, then the seconds and offset from a table: two strings joined instead
  // of twelve (the template literal made a new string at every step).
  const minute = (((yy * 13 + mo) * 32 + dd) * 24 + hh) * 60 + mi;
  let prefix = MINUTE_PREFIXES.get(minute);
  if (prefix === undefined) {
    prefix = `${year}-${TWO_DIGITS[mo]}-${TWO_DIGITS[dd]}T${TWO_DIGITS[hh]}:${TWO_DIGITS[mi]}:`;
    if (MINUTE_PREFIXES.size >= MINUTE_PREFIXES_CAP) MINUTE_PREFIXES.clear();
    MINUTE_PREFIXES.set(minute, prefix);
  }
  return prefix + ((summer ? SUMMER_SECONDS : WINTER_SECONDS)[ss] as string);
}

/**
 * "YYYY-MM-DDThh:mm:" by minute (numbered from the fields): the meters of a gateway all write about the
 * same minute, and their gas readings a few others. Starts over when full.
 */
const MINUTE_PREFIXES = new Map<number, string>();
const MINUTE_PREFIXES_CAP = 256;
/** "ss+01:00" and "ss+02:00" by second. */
const WINTER_SECONDS = TWO_DIGITS.slice(0, 60).map((ss) => `${ss}+01:00`);
const SUMMER_SECONDS = TWO_DIGITS.slice(0, 60).map((ss) => `${ss}+02:00`);

/** The two decimal digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const a = text.charCodeAt(at) - 0x30;
  const b = text.charCodeAt(at + 1) - 0x30;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Formats an instant as a P1 timestamp in Central European time, with the S/W flag. */
export function formatTimestamp(epochMs: number): string {
  const summer = isEuSummerTime(epochMs);
  const local = new Date(epochMs + (summer ? 2 : 1) * 3_600_000);
  return (
    pad(local.getUTCFullYear() % 100) +
    pad(local.getUTCMonth() + 1) +
    pad(local.getUTCDate()) +
    pad(local.getUTCHours()) +
    pad(local.getUTCMinutes()) +
    pad(local.getUTCSeconds()) +
    (summer ? "S" : "W")
  );
}

/** Whether EU summer time is in force at this instant. */
export function isEuSummerTime(epochMs: number): boolean {
  const year = new Date(epochMs).getUTCFullYear();
  return epochMs >= lastSundayUtc(year, 2) && epochMs < lastSundayUtc(year, 9);
}

/** 01:00 UTC on the last Sunday of the given month (0-based). */
function lastSundayUtc(year: number, month: number): number {
  const lastDay = new Date(Date.UTC(year, month + 1, 0));
  const sunday = lastDay.getUTCDate() - lastDay.getUTCDay();
  return Date.UTC(year, month, sunday, 1);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return (DAYS_IN_MONTH[month - 1] as number) + (leap ? 1 : 0);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/*
 * ---- An ISO time as parseTimestamp writes it ("YYYY-MM-DDThh:mm:ss+hh:mm"), as one number ----
 * For what keeps times for long (the gateway's store, see its compact.ts): a number is written into its
 * record in place, where a new string per telegram lives on to be copied by the GC. The wall-clock
 * seconds (as if UTC) times OFFSETS, plus the offset in minutes shifted to be positive: exact in a
 * double for years 0-9999 (below 2^53).
 */
const OFFSETS = 4096;
const OFFSET_BIAS = 2048;
const ISO_LENGTH = 25;
/** The separators of the ISO form, by position. */
const ISO_SEPARATORS: readonly [number, number][] = [
  [4, 0x2d], // '-'
  [7, 0x2d],
  [10, 0x54], // 'T'
  [13, 0x3a], // ':'
  [16, 0x3a],
  [22, 0x3a],
];

/** The number for an ISO time of the parser's form, or NaN for any other text (kept as text then). */
export function timeCode(iso: string): number {
  if (iso.length !== ISO_LENGTH) return Number.NaN;
  for (const [at, c] of ISO_SEPARATORS) if (iso.charCodeAt(at) !== c) return Number.NaN;
  const sign = iso.charCodeAt(19);
  if (sign !== 0x2b && sign !== 0x2d) return Number.NaN; // '+', '-'
  const century = twoDigits(iso, 0);
  const yy = twoDigits(iso, 2);
  const year = century < 0 || yy < 0 ? -1 : century * 100 + yy;
  const month = twoDigits(iso, 5);
  const day = twoDigits(iso, 8);
  const hour = twoDigits(iso, 11);
  const minute = twoDigits(iso, 14);
  const second = twoDigits(iso, 17);
  const offsetH = twoDigits(iso, 20);
  const offsetM = twoDigits(iso, 23);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0)
    return Number.NaN;
  if (minute > 59 || second < 0 || second > 59 || offsetH < 0 || offsetH > 23 || offsetM < 0 || offsetM > 59)
    return Number.NaN;
  if (day > daysInMonth(year, month)) return Number.NaN;
  const wallS = daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
  const offset = (sign === 0x2d ? -1 : 1) * (offsetH * 60 + offsetM);
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
