import { describe, expect, it } from "vitest";
import { crc16, formatCrc } from "../../src/dsmr/index.ts";

describe("crc16 (CRC-16/ARC)", () => {
  it("matches the catalogue check value for '123456789'", () => {
    expect(crc16(Buffer.from("123456789"))).toBe(0xbb3d);
  });
  it("is 0 for no bytes and honours start/end", () => {
    expect(crc16(Buffer.alloc(0))).toBe(0);
    expect(crc16(Buffer.from("xx123456789yy"), 2, 11)).toBe(0xbb3d);
  });
  it("formats as four upper-case hex digits", () => {
    expect(formatCrc(0xb9f)).toBe("0B9F");
    expect(formatCrc(0xbb3d)).toBe("BB3D");
  });
});
