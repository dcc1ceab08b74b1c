import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FrameEvent, TelegramFramer } from "../../src/dsmr/index.ts";
import { isP1Error } from "../../src/shared/index.ts";
import { fixture } from "../helpers/fixtures.ts";
import { chunked } from "../helpers/streams.ts";

const T50 = fixture("dsmr50.txt");
const T30 = fixture("dsmr30.txt");
const T40 = fixture("dsmr40.txt");

function frameAll(chunks: readonly Uint8Array[], maxTelegramBytes?: number): FrameEvent[] {
  const f = new TelegramFramer(maxTelegramBytes === undefined ? {} : { maxTelegramBytes });
  return [...chunks.flatMap((c) => f.push(c)), ...f.flush()];
}

function okBytes(events: readonly FrameEvent[]): string[] {
  return events.flatMap((e) => (e.ok ? [e.frame.bytes.toString("latin1")] : []));
}

/** A telegram as the framer yields it: '/' through the CRC, without the trailing line end. */
function framed(t: Buffer): string {
  return t.toString("latin1").replace(/\r\n$/, "");
}

describe("TelegramFramer", () => {
  it("yields one telegram from one chunk, ending right after the CRC", () => {
    expect(okBytes(frameAll([T50]))).toEqual([framed(T50)]);
  });

  it("yields the same telegrams byte by byte", () => {
    const stream = Buffer.concat([T50, T40, T50]);
    const bytes = [...stream].map((b) => Uint8Array.of(b));
    expect(okBytes(frameAll(bytes))).toEqual([framed(T50), framed(T40), framed(T50)]);
  });

  it("keeps a chunk pushed twice twice (one buffer object, two slices of the unit)", () => {
    const line = Buffer.from("1-0:1.8.1(1)\r\n", "latin1");
    const chunks = [Buffer.from("/X\r\n\r\n", "latin1"), line, line, Buffer.from("!\r\n", "latin1")];
    expect(okBytes(frameAll(chunks))).toEqual([`/X\r\n\r\n${line}${line}!`]);
  });

  it("handles several telegrams in one chunk", () => {
    expect(okBytes(frameAll([Buffer.concat([T40, T50, T40])]))).toEqual([
      framed(T40),
      framed(T50),
      framed(T40),
    ]);
  });

  it("skips garbage, NUL bytes and the tail of an earlier telegram before '/'", () => {
    const tail = T50.subarray(T50.length - 200);
    const noise = Buffer.from([0x00, 0x00, 0xff, 0x41, 0x0d, 0x0a, 0x00]);
    const f = new TelegramFramer();
    const out = [...f.push(Buffer.concat([tail, noise, T50, noise, T40])), ...f.flush()];
    expect(okBytes(out)).toEqual([framed(T50), framed(T40)]);
    expect(out.every((e) => e.ok)).toBe(true);
    // Each telegram's trailing CR LF after its CRC is noise to the framer as well.
    expect(f.skippedBytes).toBe(tail.length + noise.length * 2 + 4);
  });

  it("reports a telegram cut off by the next one as TRUNCATED and keeps the next", () => {
    const cut = T50.subarray(0, 300);
    const out = frameAll([Buffer.concat([cut, T40])]);
    expect(out[0]?.ok).toBe(false);
    if (out[0] && !out[0].ok) expect(out[0].error.code).toBe("TRUNCATED");
    expect(okBytes(out)).toEqual([framed(T40)]);
  });

  it("frames DSMR 3.0 telegrams without CRC, with or without a final line end", () => {
    expect(okBytes(frameAll([Buffer.concat([T30, T30])]))).toEqual([framed(T30), framed(T30)]);
    const noEol = T30.subarray(0, T30.length - 2);
    expect(okBytes(frameAll([noEol]))).toEqual([framed(T30)]);
  });

  it("reports an unfinished telegram at the end of the stream as TRUNCATED", () => {
    const out = frameAll([T50.subarray(0, 100)]);
    expect(out).toHaveLength(1);
    expect(out[0]?.ok === false && out[0].error.code === "TRUNCATED").toBe(true);
  });

  it("drops a telegram over the cap as TOO_LARGE and recovers on the next", () => {
    const huge = Buffer.concat([
      Buffer.from("/XXX5 huge\r\n\r\n0-0:96.13.0("),
      Buffer.alloc(5000, 0x41),
      Buffer.from(")\r\n!0000\r\n"),
    ]);
    const out = frameAll([huge, T50], 4096);
    expect(out[0]?.ok === false && out[0].error.code === "TOO_LARGE").toBe(true);
    expect(okBytes(out)).toEqual([framed(T50)]);
  });

  it("frames encrypted 0xDB frames by their length field, also split and back to back", () => {
    // Security byte 0x30, then '/' bytes: inside ciphertext they must not restart anything.
    const body = Buffer.concat([Buffer.of(0x30), Buffer.alloc(40, 0x2f)]);
    const frame = Buffer.concat([
      Buffer.from([0xdb, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x00, body.length]),
      body,
    ]);
    const two = Buffer.concat([frame, frame]);
    const byByte = [...two].map((b) => Uint8Array.of(b));
    const events = frameAll(byByte);
    expect(events.map((e) => (e.ok ? e.frame.kind : e.error.code))).toEqual(["encrypted", "encrypted"]);
    expect(events.every((e) => e.ok && e.frame.bytes.equals(frame))).toBe(true);
  });

  it("yields a frame inside one chunk as a view of that chunk (no copy), one across chunks joined", () => {
    const body = Buffer.concat([Buffer.of(0x30), Buffer.alloc(40, 0x11)]);
    const frame = Buffer.concat([
      Buffer.from([0xdb, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x00, body.length]),
      body,
    ]);
    const chunk = Buffer.concat([Buffer.from("noise"), frame, frame.subarray(0, 20)]);
    const f = new TelegramFramer();
    const [whole] = f.push(chunk);
    const [joined] = f.push(frame.subarray(20));
    expect(whole?.ok && whole.frame.bytes.equals(frame)).toBe(true);
    // A view shares the chunk's memory: a copy would have its own.
    expect(whole?.ok && whole.frame.bytes.buffer === chunk.buffer).toBe(true);
    expect(whole?.ok && whole.frame.bytes.byteOffset).toBe(chunk.byteOffset + 5);
    expect(joined?.ok && joined.frame.bytes.equals(frame)).toBe(true);
  });

  it("a false frame start followed by a real frame loses only the false one", () => {
    const body = Buffer.concat([Buffer.of(0x30), Buffer.alloc(30, 0x55)]);
    const frame = Buffer.concat([
      Buffer.from([0xdb, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x00, body.length]),
      body,
    ]);
    const out = frameAll([Buffer.concat([frame.subarray(0, 5), Buffer.from("\r\n"), frame])]);
    expect(out.map((e) => (e.ok ? e.frame.kind : e.error.code))).toEqual(["FRAME_INVALID", "encrypted"]);
  });

  it("treats a lone 0xDB in noise as garbage and still finds the telegram after it", () => {
    expect(okBytes(frameAll([Buffer.concat([Buffer.from([0xdb, 0x41, 0xdb]), T50])]))).toEqual([framed(T50)]);
  });

  it("any chunking of a stream yields the same frames (property)", () => {
    const stream = Buffer.concat([Buffer.from("noise\0"), T50, T30, Buffer.from([0xdb, 0x00]), T40]);
    const expected = okBytes(frameAll([stream]));
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 40 }), (cuts) => {
        expect(okBytes(frameAll(chunked(stream, cuts)))).toEqual(expected);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it("any chunking of encrypted frames mixed with telegrams yields the same frames (property)", () => {
    const body = Buffer.concat([
      Buffer.of(0x30),
      Buffer.from(Array.from({ length: 299 }, (_, i) => (i * 37) & 0xff)),
    ]);
    const frame = Buffer.concat([Buffer.from([0xdb, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x01, 0x2c]), body]);
    const stream = Buffer.concat([frame, T40, frame, frame, Buffer.from([0x00, 0xdb, 0x07]), frame]);
    const expected = okBytes(frameAll([stream]));
    expect(expected).toHaveLength(5);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 60 }), (cuts) => {
        expect(okBytes(frameAll(chunked(stream, cuts)))).toEqual(expected);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it("random garbage and mutations never throw, never exceed the cap (property)", () => {
    const cap = 2048;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.constant(T50), fc.constant(T30)), {
          maxLength: 8,
        }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (parts, flips) => {
          const stream = Buffer.concat(parts);
          for (const f of flips)
            if (stream.length > 0)
              stream.writeUInt8((stream[f % stream.length] as number) ^ (1 << (f % 8)), f % stream.length);
          const events = frameAll(chunked(stream, flips), cap);
          for (const e of events) {
            if (e.ok) expect(e.frame.bytes.length).toBeLessThanOrEqual(cap);
            else expect(isP1Error(e.error)).toBe(true);
          }
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});
