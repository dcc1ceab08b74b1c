import { describe, expect, it } from "vitest";
import { NoiseCodec, noiseRejection } from "../../../src/api/native/noise.ts";

const identity = { name: "p1-test", mac: "02:00:00:AA:BB:CC" };

function helloThen(body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([0x01, 0x00, 0x00]),
    Buffer.from([0x01, body.length >> 8, body.length & 0xff]),
    body,
  ]);
}

describe("Noise responder", () => {
  it("refuses a PSK that is not 32 bytes", () => {
    expect(() => new NoiseCodec(Buffer.alloc(16), identity)).toThrow(/32 bytes/);
  });

  it.each([
    ["an empty handshake message", Buffer.alloc(0), "Empty handshake message"],
    ["a bad error byte", Buffer.from([0x05, ...Buffer.alloc(48)]), "Bad handshake error byte"],
    ["a short message", Buffer.from([0x00, 1, 2, 3]), "Handshake error"],
    ["a wrong MAC", Buffer.from([0x00, ...Buffer.alloc(48, 7)]), "Handshake MAC failure"],
  ])("rejects %s with the firmware's reason", (_what, body, reason) => {
    const codec = new NoiseCodec(Buffer.alloc(32, 1), identity);
    const r = codec.feed(helloThen(body));
    expect(r.ok).toBe(false);
    expect(r.replies.at(-1)).toEqual(noiseRejection(reason));
    expect(codec.ready).toBe(false);
  });

  it("rejects handshake frames over 128 bytes", () => {
    const codec = new NoiseCodec(Buffer.alloc(32, 1), identity);
    const r = codec.feed(Buffer.from([0x01, 0x00, 0x81]));
    expect(r.ok ? null : r.error.code).toBe("TOO_LARGE");
    expect(r.replies).toEqual([noiseRejection("Bad handshake packet len")]);
  });

  it("buffers a client hello split byte by byte", () => {
    const codec = new NoiseCodec(Buffer.alloc(32, 1), identity);
    expect(codec.feed(Buffer.from([0x01])).replies).toEqual([]);
    expect(codec.feed(Buffer.from([0x00])).replies).toEqual([]);
    const r = codec.feed(Buffer.from([0x00]));
    expect(r.replies).toHaveLength(1);
    expect(r.replies[0]?.subarray(3).toString("latin1")).toBe("\x01p1-test\x00020000aabbcc\x00");
  });
});
