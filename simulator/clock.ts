import { isEuSummerTime } from "../src/dsmr/index.ts";

/** Wall-clock fields in Central European time (the meters' local time). */
export interface LocalTime {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
}

const HOUR_MS = 3_600_000;

/** The local (CET/CEST) fields of an instant. */
export function localTime(epochMs: number): LocalTime {
  const d = new Date(epochMs + (isEuSummerTime(epochMs) ? 2 : 1) * HOUR_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours() + d.getUTCMinutes() / 60,
    minute: d.getUTCMinutes(),
    weekday: d.getUTCDay(),
  };
}

/** The instant of local midnight on the first day of the given month (month may overflow into the next year). */
export function localMonthStart(year: number, month: number): number {
  const winter = Date.UTC(year, month - 1, 1) - HOUR_MS;
  // Month starts are never inside a DST switch, so one of the two offsets is right.
  return isEuSummerTime(winter - HOUR_MS) ? winter - HOUR_MS : winter;
}
