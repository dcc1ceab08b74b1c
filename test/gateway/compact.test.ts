import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatTimestamp, parseTimestamp, timeCode, timeText } from "../../src/dsmr/timestamp.ts";
import { digitsShape, digitsText, NO_DIGITS, OTHER_DIGITS } from "../../src/gateway/compact.ts";

describe("timeCode / timeText: an ISO time kept as a number", () => {
  it("gives back every time the parser writes, exactly (property)", () => {
    // Instants from 2000 to 2099, as a meter writes them, then as the parser reads them.
    const instant = fc.integer({ min: Date.UTC(2000, 0, 1, 2), max: Date.UTC(2099, 11, 31, 20) });
    fc.assert(
      fc.property(instant, (ms) => {
        const iso = parseTimestamp(formatTimestamp(Math.floor(ms / 1000) * 1000)) as string;
        const code = timeCode(iso);
        expect(Number.isNaN(code), iso).toBe(false);
        expect(timeText(code)).toBe(iso);
      }),
      { numRuns: 3000, seed: 8 },
    );
  });

  it("a code stands for one text only: any other text is NaN or comes back as it was (property)", () => {
    // Near-ISO texts (fields out of range, other separators, other offsets) and arbitrary ones.
    const two = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, "0"));
    const nearIso = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, "0")),
        two,
        two,
        two,
        two,
        two,
        fc.constantFrom("+", "-", " ", "Z"),
        two,
        two,
        fc.constantFrom("T", " "),
      )
      .map(([y, mo, d, h, mi, s, sign, oh, om, t]) => `${y}-${mo}-${d}${t}${h}:${mi}:${s}${sign}${oh}:${om}`);
    fc.assert(
      fc.property(fc.oneof(nearIso, fc.string({ maxLength: 30 })), (text) => {
        const code = timeCode(text);
        if (!Number.isNaN(code)) expect(timeText(code)).toBe(text);
      }),
      { numRuns: 5000, seed: 9 },
    );
    // Calendar days that do not exist are other texts; the first centuries are times like any other.
    expect(timeCode("2023-02-29T10:00:00+01:00")).toBeNaN();
    expect(timeCode("2023-04-31T10:00:00+01:00")).toBeNaN();
    expect(timeText(timeCode("2024-02-29T10:00:00+01:00"))).toBe("2024-02-29T10:00:00+01:00");
    expect(timeText(timeCode("0099-06-01T10:00:00+01:00"))).toBe("0099-06-01T10:00:00+01:00");
    expect(timeText(timeCode("1969-12-31T23:59:59-05:30"))).toBe("1969-12-31T23:59:59-05:30");
  });
});

describe("digitsShape / digitsText: a number's digits as written, kept as their shape", () => {
  const digits = (min: number, max: number) =>
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(""));
  // What meters write: zero-padded, with or without decimals, now and then negative.
  const written = fc
    .tuple(fc.constantFrom("", "", "", "-"), digits(1, 10), fc.option(digits(1, 6)))
    .map(([sign, int, frac]) => `${sign}${int}${frac === null ? "" : `.${frac}`}`);

  it("gives back the text of every number of up to 15 digits, zeros and sign included (property)", () => {
    fc.assert(
      fc.property(written, (text) => {
        const value = Number(text);
        const shape = digitsShape(text, value);
        if (text.replace(/[-.]/g, "").length > 15) expect(shape).toBe(OTHER_DIGITS);
        else {
          expect(shape, text).toBeGreaterThanOrEqual(0);
          expect(digitsText(value, shape)).toBe(text);
        }
      }),
      { numRuns: 5000, seed: 10 },
    );
  });

  it("keeps any other text, or a text that is not the value, as a string (OTHER_DIGITS)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.double(), (text, value) => {
        const shape = digitsShape(text, value);
        if (shape >= 0) expect(digitsText(value, shape)).toBe(text);
        else expect(shape).toBe(OTHER_DIGITS);
      }),
      { numRuns: 5000, seed: 11 },
    );
    for (const text of [".5", "5.", "+5", "1e3", " 5", "5 ", "1.2.3", "-", "", "0x10", "١٢"])
      expect(digitsShape(text, Number(text)), JSON.stringify(text)).toBe(OTHER_DIGITS);
    expect(digitsShape("004321.987", 4321.986)).toBe(OTHER_DIGITS);
    expect(digitsShape("12", "12")).toBe(OTHER_DIGITS);
    expect(digitsShape(null, 5)).toBe(NO_DIGITS);
    // A negative zero written by the meter comes back with its sign, whatever zero the value is.
    expect(digitsText(0, digitsShape("-0.00", 0))).toBe("-0.00");
  });
});
