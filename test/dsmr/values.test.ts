import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DASHED_TIMESTAMP_RE,
  DECIMAL_RE,
  isEuSummerTime,
  parseDecimal,
  parseTimestamp,
  TIMESTAMP_RE,
} from "../../src/dsmr/index.ts";

describe("parseDecimal", () => {
  it("accepts exactly what DECIMAL_RE accepts, with the same digits and unit (property)", () => {
    const chars = fc.constantFrom(..."0123456789.+-*kWhmVA3 x".split(""));
    // Up to 20 characters: numbers of more than 15 digits take another path; units that are and are
    // not the table's.
    const unit = fc.constantFrom(null, "kWh", "kW", "V", "A", "m3", "W");
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 20 }), unit, (parts, defaultUnit) => {
        const text = parts.join("");
        const m = DECIMAL_RE.exec(text);
        const d = parseDecimal(text, defaultUnit);
        if (!m) expect(d, text).toBeUndefined();
        else expect(d, text).toEqual({ value: Number(m[1]), text: m[1], unit: m[2] ?? defaultUnit });
      }),
      { numRuns: 5000, seed: 21 },
    );
  });

  it("reads numbers of more than 15 digits as Number() does (property)", () => {
    const digits = fc.array(fc.constantFrom(..."0123456789"), { minLength: 1, maxLength: 14 });
    fc.assert(
      fc.property(digits, digits, digits, (a, b, c) => {
        const text = `${a.join("")}${b.join("")}${c.length % 2 ? "." : ""}${c.join("")}`;
        expect(parseDecimal(text)?.value, text).toBe(Number(text));
      }),
      { numRuns: 2000, seed: 22 },
    );
  });

  it("reads the forms meters write", () => {
    expect(parseDecimal("000123.456kWh")).toEqual({ value: 123.456, text: "000123.456", unit: "kWh" });
    expect(parseDecimal("0085*A")).toEqual({ value: 85, text: "0085", unit: "A" });
    expect(parseDecimal("00.007", "kvar")).toEqual({ value: 0.007, text: "00.007", unit: "kvar" });
    expect(parseDecimal("12.")).toBeUndefined();
    expect(parseDecimal("*kW")).toBeUndefined();
  });
});

describe("parseTimestamp", () => {
  // The regular expressions are the specification; this is how the parser read them before it scanned by
  // hand (and the Date-based checks it keeps).
  const reference = (text: string) => {
    const m = TIMESTAMP_RE.exec(text) ?? DASHED_TIMESTAMP_RE.exec(text);
    if (!m) return undefined;
    const [yy, mo, dd, hh, mi, ss] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as number[];
    const year = 2000 + (yy as number);
    const iso = `${year}-${String(mo).padStart(2, "0")}-${String(dd).padStart(2, "0")}T${String(hh).padStart(2, "0")}:${String(mi).padStart(2, "0")}:${String(ss).padStart(2, "0")}`;
    const local = new Date(`${iso}Z`);
    if (local.getUTCMonth() + 1 !== mo || local.getUTCDate() !== dd || (hh as number) > 23) return undefined;
    const flag = (m[7] ?? "").toUpperCase();
    const summer =
      flag === "S" ||
      (flag === "" && isEuSummerTime(Date.UTC(year, (mo as number) - 1, dd, (hh as number) - 1, mi, ss)));
    return (mi as number) > 59 || (ss as number) > 59 ? undefined : `${iso}${summer ? "+02:00" : "+01:00"}`;
  };

  it("reads exactly what TIMESTAMP_RE and DASHED_TIMESTAMP_RE accept, to the same instant (property)", () => {
    // Fields near their valid ranges (month 0-13, day 0-32, ...), now and then not two digits.
    const field = (max: number) =>
      fc.oneof(
        { weight: 12, arbitrary: fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, "0")) },
        { weight: 1, arbitrary: fc.constantFrom("1", "x1", "1 ", "٣1") },
      );
    const fields = fc.tuple(field(99), field(13), field(32), field(24), field(60), field(60));
    const compact = fc
      .tuple(fields, fc.constantFrom("", "S", "W", "s", "w", "X", "SS"))
      .map(([f, flag]) => f.join("") + flag);
    const separators = fc.oneof(
      fc.constant(["-", "-", " ", ":", ":"]),
      fc.array(fc.constantFrom("-", " ", ":", "x"), { minLength: 5, maxLength: 5 }),
    );
    const dashed = fc
      .tuple(fields, separators)
      .map(([f, sep]) => f.map((x, i) => x + (sep[i] ?? "")).join(""));
    fc.assert(
      fc.property(fc.oneof(compact, dashed, fc.string({ maxLength: 18 })), (text) => {
        expect(parseTimestamp(text), text).toBe(reference(text));
      }),
      { numRuns: 5000, seed: 13 },
    );
  });

  it("reads a meter's clock as it runs, second by second and by jumps, as the reference does (property)", () => {
    // The minutes already formatted are reused: consecutive timestamps share fields, so any field left
    // out of that reuse shows here (random dates, above, hardly ever share a minute).
    const pad = (n: number) => String(n).padStart(2, "0");
    const p1 = (ms: number, flag: string) => {
      const d = new Date(ms);
      const f = [d.getUTCFullYear() % 100, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()];
      return `${f.map(pad).join("")}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}${flag}`;
    };
    const start = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31) });
    // A second, anything up to two days, or whole days to the same time of another month or year.
    const day = 86_400_000;
    const jump = fc.oneof(
      fc.constant(1000),
      fc.integer({ min: 0, max: 2 * day }),
      fc.constantFrom(28, 30, 31, 365, 366).map((days) => days * day),
    );
    const steps = fc.array(jump, {
      minLength: 1,
      maxLength: 30,
    });
    fc.assert(
      fc.property(start, steps, fc.constantFrom("", "S", "W"), (from, jumps, flag) => {
        let t = from;
        for (const jump of jumps) {
          t += jump;
          const text = p1(t, flag);
          expect(parseTimestamp(text), text).toBe(reference(text));
        }
      }),
      { numRuns: 500, seed: 21 },
    );
  });

  it("reads the forms meters write", () => {
    expect(parseTimestamp("240115120001W")).toBe("2024-01-15T12:00:01+01:00");
    expect(parseTimestamp("230615143005S")).toBe("2023-06-15T14:30:05+02:00");
    expect(parseTimestamp("19-01-01 00:00:00")).toBe("2019-01-01T00:00:00+01:00");
    expect(parseTimestamp("240230120000W")).toBeUndefined();
  });
});
