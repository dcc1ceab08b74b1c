/**
 * What an entity keeps of its latest state between telegrams, as numbers rather than strings. A state's
 * texts (the digits as written, the meter's ISO time) are new strings with every telegram that changes
 * them; kept in the entity until the meter's next telegram a second later, each lives through a few
 * young-generation collections, is copied by each and then promoted, and every one costs the scavenger an
 * old-to-new pointer as well: at 5,000 meters that was most of what each collection copied (issue 8, the
 * 5,000-meter p99). Both kinds of text are fixed by a few numbers, which V8 writes into the record in
 * place; the strings are built again only when a kept state is asked for (a new client's snapshot).
 * Texts of another form are kept as they are (the callers' fallback). The digits' shape is here; ISO
 * times are coded beside the parser that writes them (timeCode and timeText in dsmr/timestamp.ts).
 */

import { EXACT_DIGITS, POW10 } from "../dsmr/index.ts";

const ZERO = 0x30;
const NINE = 0x39;
const MINUS = 0x2d;
const POINT = 0x2e;

/*
 * ---- Digits: a number as the meter wrote it ("00230.1", "-0001.500") as its shape ----
 * A text of an optional '-', digits and at most one '.' with digits on both sides, holding at most
 * EXACT_DIGITS (15) digits, is `value` padded with zeros to its length: its shape (length, decimals,
 * sign) and the value give it back exactly (a double holds 15 significant digits, and toFixed rounds to
 * the nearest).
 */

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
  if (digits === 0 || digits > EXACT_DIGITS || point === n - 1) return OTHER_DIGITS;
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
