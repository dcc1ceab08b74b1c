import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DECIMAL_RE, parseDecimal } from "../../src/dsmr/index.ts";

describe("parseDecimal", () => {
  it("accepts exactly what DECIMAL_RE accepts, with the same digits and unit (property)", () => {
    const chars = fc.constantFrom(..."0123456789.+-*kWhmVA3 x".split(""));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 14 }), (parts) => {
        const text = parts.join("");
        const m = DECIMAL_RE.exec(text);
        const d = parseDecimal(text);
        if (!m) expect(d, text).toBeUndefined();
        else expect(d, text).toEqual({ value: Number(m[1]), text: m[1], unit: m[2] ?? null });
      }),
      { numRuns: 3000, seed: 21 },
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
