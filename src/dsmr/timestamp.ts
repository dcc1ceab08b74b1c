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

/** Days in a month (1-12) of a Gregorian year. */
export function daysInMonth(year: number, month: number): number {
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return (DAYS_IN_MONTH[month - 1] as number) + (leap ? 1 : 0);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
