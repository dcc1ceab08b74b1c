import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { isP1Error } from "../../src/shared/index.ts";
import { encryptFrame } from "../../src/smarty/index.ts";
import { fixture } from "../helpers/fixtures.ts";
import { applyEdits, editsArb } from "../helpers/streams.ts";

const KEY = Buffer.from("101112131415161718191A1B1C1D1E1F", "hex");
const TITLE = Buffer.from("4C55580000000001", "hex");
const SOURCES = ["nta8130.txt", "dsmr22.txt", "dsmr30.txt", "dsmr404.txt", "dsmr50.txt", "emucs.txt"].map(
  fixture,
);
const ENCRYPTED = encryptFrame(fixture("smarty.txt"), TITLE, 5, { key: KEY });

describe("TelegramDecoder", () => {
  it("decodes every fixture, plain and encrypted, from one stream", () => {
    const d = new TelegramDecoder({ decryptionKey: KEY });
    const out = [...d.push(Buffer.concat([...SOURCES, ENCRYPTED])), ...d.flush()];
    expect(out.map((r) => (r.ok ? r.telegram.version : r.error.code))).toEqual([
      "nta8130",
      "2.2",
      "3.0",
      "4.04",
      "5.0",
      "emucs",
      "smarty",
    ]);
  });

  it("an encrypted frame cut inside its ciphertext does not take the next frame with it", () => {
    const second = encryptFrame(fixture("smarty.txt"), TITLE, 6, { key: KEY });
    // Cut anywhere but in its last 5 bytes (then too little of the next header shows; the pause
    // between frames, where the gateway flushes, separates them).
    for (const cut of [20, 100, ENCRYPTED.length - 13, ENCRYPTED.length - 6]) {
      const d = new TelegramDecoder({ decryptionKey: KEY });
      const out = [...d.push(Buffer.concat([ENCRYPTED.subarray(0, cut), second, ENCRYPTED])), ...d.flush()];
      expect(
        out.map((r) => (r.ok ? r.encryption?.frameCounter : r.error.code)),
        `cut at ${cut}`,
      ).toEqual(["TRUNCATED", 6, 5]);
    }
  });

  it("a frame that lost a byte fails alone; the frame after it is recovered", () => {
    const second = encryptFrame(fixture("smarty.txt"), TITLE, 6, { key: KEY });
    for (const at of [20, 300, ENCRYPTED.length - 1]) {
      const damaged = Buffer.concat([ENCRYPTED.subarray(0, at), ENCRYPTED.subarray(at + 1)]);
      const d = new TelegramDecoder({ decryptionKey: KEY });
      const out = [...d.push(Buffer.concat([damaged, second])), ...d.flush()];
      expect(
        out.map((r) => (r.ok ? r.encryption?.frameCounter : r.error.code)),
        `byte ${at} dropped`,
      ).toEqual(["DECRYPT_FAILED", 6]);
    }
  });

  it("a good frame whose last byte happens to be 0xDB costs nothing", () => {
    let counter = 1;
    let frame = encryptFrame(fixture("smarty.txt"), TITLE, counter, { key: KEY });
    while (frame[frame.length - 1] !== 0xdb)
      frame = encryptFrame(fixture("smarty.txt"), TITLE, ++counter, { key: KEY });
    const next = encryptFrame(fixture("smarty.txt"), TITLE, counter + 1, { key: KEY });
    const d = new TelegramDecoder({ decryptionKey: KEY });
    const out = [...d.push(frame), ...d.push(next), ...d.push(frame.subarray(0, 0)), ...d.flush()];
    expect(out.map((r) => (r.ok ? r.encryption?.frameCounter : r.error.code))).toEqual([
      counter,
      counter + 1,
    ]);
    const alone = new TelegramDecoder({ decryptionKey: KEY });
    expect([...alone.push(frame), ...alone.flush()].map((r) => r.ok)).toEqual([true]);
    expect(alone.skippedBytes).toBe(0);
  });

  it("mutated streams yield only telegrams and typed errors, and valid telegrams after the damage survive", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: SOURCES.length }), { minLength: 1, maxLength: 5 }),
        editsArb(4),
        (picks, edits) => {
          const parts = picks.map((i) => (i === SOURCES.length ? ENCRYPTED : (SOURCES[i] as Buffer)));
          const damaged = applyEdits(Buffer.concat(parts), edits);
          const d = new TelegramDecoder({ decryptionKey: KEY, maxTelegramBytes: 4096 });
          const untouched = Buffer.concat(parts); // a clean copy after the damage
          // Meters pause between telegrams and the gateway flushes the framer on silence; without that
          // pause an encrypted frame cut inside its body would take the next frame's bytes as its own.
          const out = [...d.push(damaged), ...d.flush(), ...d.push(untouched), ...d.flush()];
          for (const r of out) if (!r.ok) expect(isP1Error(r.error), String(r.error)).toBe(true);
          // The clean copy after the damage is recovered in full, in order.
          const tail = out.slice(-parts.length);
          expect(tail.every((r) => r.ok)).toBe(true);
        },
      ),
      { numRuns: 200, seed: 3 },
    );
  });
});
