import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodePlaintextFrame,
  encodeVarint,
  MAX_PAYLOAD_BYTES,
  PlaintextCodec,
  type RawMessage,
  readVarint,
} from "../../../src/api/native/frame.ts";

function feedAll(codec: PlaintextCodec, chunks: readonly Buffer[]): RawMessage[] {
  const out: RawMessage[] = [];
  for (const chunk of chunks) {
    const r = codec.feed(chunk);
    if (!r.ok) throw r.error;
    out.push(...r.messages);
  }
  return out;
}

describe("varints", () => {
  it.each([
    [0, "00"],
    [1, "01"],
    [127, "7f"],
    [128, "8001"],
    [300, "ac02"],
    [16_383, "ff7f"],
    [16_384, "808001"],
    [2 ** 28 - 1, "ffffff7f"],
  ])("%i ↔ %s", (value, hex) => {
    expect(encodeVarint(value).toString("hex")).toBe(hex);
    expect(readVarint(Buffer.from(hex, "hex"), 0)).toEqual({ value, next: hex.length / 2 });
  });

  it("wants more bytes for an unfinished varint and refuses a fifth byte", () => {
    expect(readVarint(Buffer.from("80", "hex"), 0)).toBe("more");
    expect(readVarint(Buffer.from("808080", "hex"), 0)).toBe("more");
    expect(readVarint(Buffer.from("80808080", "hex"), 0)).toBe("too_long");
    expect(readVarint(Buffer.from("8080808001", "hex"), 0)).toBe("too_long");
    expect(() => encodeVarint(2 ** 28)).toThrow(RangeError);
    expect(() => encodeVarint(-1)).toThrow(RangeError);
  });
});

describe("plaintext frames", () => {
  it("frames an empty PingRequest as 00 00 07", () => {
    expect(encodePlaintextFrame(7, new Uint8Array())).toEqual(Buffer.from([0x00, 0x00, 0x07]));
    expect(encodePlaintextFrame(130, Buffer.from("ab"))).toEqual(
      Buffer.from([0x00, 0x02, 0x82, 0x01, 0x61, 0x62]),
    );
  });

  const stream = Buffer.concat([
    encodePlaintextFrame(1, Buffer.from("hello")),
    encodePlaintextFrame(7, Buffer.alloc(0)),
    encodePlaintextFrame(300, Buffer.alloc(200, 0x42)),
  ]);
  const expected = [
    { type: 1, payload: Buffer.from("hello") },
    { type: 7, payload: Buffer.alloc(0) },
    { type: 300, payload: Buffer.alloc(200, 0x42) },
  ];

  it("parses several frames in one chunk", () => {
    expect(feedAll(new PlaintextCodec(), [stream])).toEqual(expected);
  });

  it("parses frames split byte by byte", () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(feedAll(new PlaintextCodec(), bytes)).toEqual(expected);
  });

  it("yields the same messages for any chunking", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let last = 0;
        for (const p of [...points, stream.length]) {
          if (p > last) chunks.push(stream.subarray(last, p));
          last = p;
        }
        expect(feedAll(new PlaintextCodec(), chunks)).toEqual(expected);
      }),
    );
  });

  it("accepts a payload at the cap and refuses one byte more", () => {
    const atCap = encodePlaintextFrame(1, Buffer.alloc(MAX_PAYLOAD_BYTES));
    expect(feedAll(new PlaintextCodec(), [atCap])).toHaveLength(1);
    expect(() => encodePlaintextFrame(1, Buffer.alloc(MAX_PAYLOAD_BYTES + 1))).toThrow();
    const over = Buffer.concat([Buffer.from([0x00]), encodeVarint(MAX_PAYLOAD_BYTES + 1)]);
    const r = new PlaintextCodec().feed(over);
    expect(r.ok ? null : r.error.code).toBe("TOO_LARGE");
  });

  it.each([
    ["a wrong preamble", "ff0007"],
    ["a Noise indicator", "010000"],
    ["a five-byte length varint", "008080808001"],
    ["a five-byte type varint", "00008080808001"],
  ])("fails on %s, and stays failed", (_what, hex) => {
    const codec = new PlaintextCodec();
    const r = codec.feed(Buffer.from(hex, "hex"));
    expect(r.ok ? null : r.error.code).toBe("FRAME_INVALID");
    expect(codec.feed(Buffer.from([0x00, 0x00, 0x07])).ok).toBe(false);
  });

  it("never throws on garbage", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const codec = new PlaintextCodec();
        for (const b of bytes) codec.feed(Buffer.from([b]));
      }),
    );
  });
});
