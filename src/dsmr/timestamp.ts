/**
 * P1 timestamps: YYMMDDhhmmssX, local Dutch/Belgian/Luxembourg time, X = 'S' (summer, UTC+2) or 'W'
 * (winter, UTC+1) per DSMR 5.0.2 §6.4. DSMR 2.2/3.0 gas readings omit X; then the EU summer-time rule
 * (last Sunday of March to last Sunday of October, switching at 01:00 UTC) decides.
 */
const TST_RE = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SWsw]?)$/;
// Pre-DSMR meters (ACE4000) write "19-01-01 00:00:00".
const DASHED_RE = /^(\d{2})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Parses a P1 timestamp to ISO 8601 with offset; undefined when it is not a valid date and time. */
export function parseTimestamp(text: string): string | undefined {
  const m = TST_RE.exec(text) ?? DASHED_RE.exec(text);
  if (!m) return undefined;
  const [yy, mo, dd, hh, mi, ss] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const year = 2000 + yy;
  if (mo < 1 || mo > 12 || dd < 1 || dd > daysInMonth(year, mo) || hh > 23 || mi > 59 || ss > 59)
    return undefined;
  const flag = (m[7] ?? "").toUpperCase();
  const summer = flag === "S" || (flag === "" && isEuSummerTime(Date.UTC(year, mo - 1, dd, hh - 1, mi, ss)));
  return `${year}-${pad(mo)}-${pad(dd)}T${pad(hh)}:${pad(mi)}:${pad(ss)}${summer ? "+02:00" : "+01:00"}`;
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
