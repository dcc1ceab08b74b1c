import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc16, crc16Update, formatCrc } from "../../src/dsmr/index.ts";
import { differingWords, WordBytes } from "../../src/dsmr/words.ts";

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

describe("crc16 slicing", () => {
  /** Bit-by-bit reference implementation of CRC-16/ARC. */
  function reference(bytes: Uint8Array): number {
    let c = 0;
    for (const b of bytes) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    }
    return c;
  }
  it("equals the bit-by-bit definition for every length and alignment", () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
    for (let start = 0; start < 5; start++) {
      for (let end = start; end <= data.length; end += 7)
        expect(crc16(data, start, end)).toBe(reference(data.subarray(start, end)));
    }
  });
});

describe("crc16Update (the CRC of a message from the CRC of one of its length)", () => {
  const message = fc.uint8Array({ minLength: 1, maxLength: 600 });
  it("equals crc16 of the new message when every changed word is listed, spurious ones included (property)", () => {
    fc.assert(
      fc.property(
        message,
        fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (bytes, changes, spurious) => {
          const before = new WordBytes();
          const now = new WordBytes();
          before.fill(bytes, bytes.length);
          const changed = Uint8Array.from(bytes);
          for (const c of changes) changed[c.at % changed.length] = c.byte;
          now.fill(changed, changed.length);
          const words = new Int32Array(before.words.length);
          const count = differingWords(before, now, words);
          const listed = [
            ...new Set([...words.subarray(0, count), ...spurious.map((w) => w % ((bytes.length + 3) >>> 2))]),
          ];
          listed.sort((a, b) => a - b);
          expect(
            crc16Update(
              crc16(bytes),
              before.bytes,
              now.bytes,
              Int32Array.from(listed),
              listed.length,
              bytes.length,
            ),
          ).toBe(crc16(changed));
        },
      ),
      { numRuns: 2000, seed: 16 },
    );
  });
});

describe("differingWords (the 4-byte words in which two messages of one length differ)", () => {
  // Bytes that make 8-byte groups read as 0, -0 or NaN as doubles (compared eight bytes at a time).
  const byte = fc.constantFrom(0x00, 0x80, 0x7f, 0xff, 0xf8, 0xf0, 0x01, 0x21, 0x30);
  it("lists exactly the words whose bytes differ, ascending (property)", () => {
    fc.assert(
      fc.property(
        fc.array(byte, { minLength: 1, maxLength: 80 }),
        fc.array(fc.record({ at: fc.nat(), byte }), { maxLength: 12 }),
        (bytes, changes) => {
          const before = Uint8Array.from(bytes);
          const changed = Uint8Array.from(bytes);
          for (const c of changes) changed[c.at % changed.length] = c.byte;
          const a = new WordBytes();
          const b = new WordBytes();
          a.fill(before, before.length);
          b.fill(changed, changed.length);
          const expected: number[] = [];
          for (let i = 0; i < before.length; i++)
            if (before[i] !== changed[i] && expected.at(-1) !== i >>> 2) expected.push(i >>> 2);
          const out = new Int32Array(64);
          const count = differingWords(a, b, out);
          expect(count === -1 ? "too many" : [...out.subarray(0, count)]).toEqual(
            expected.length > out.length ? "too many" : expected,
          );
        },
      ),
      { numRuns: 3000, seed: 17 },
    );
  });

  it("tells 0 from -0 when compared as doubles", () => {
    const a = new WordBytes();
    const b = new WordBytes();
    a.fill(new Uint8Array(8), 8);
    b.fill(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x80), 8);
    expect([...b.words.subarray(0, 2)]).not.toEqual([...a.words.subarray(0, 2)]);
    const out = new Int32Array(4);
    expect(differingWords(a, b, out)).toBe(1);
    expect(out[0]).toBe(1);
  });
});
