// The optional AES-GCM addon against node:crypto, the straightforward path: same plaintext, same
// failures, no state carried from one frame to the next. Runs when the addon is built and loads;
// otherwise the suite's name says why it is skipped.
import { createCipheriv } from "node:crypto";
import { existsSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Simulator } from "../../simulator/simulator.ts";
import { gcmImplementation, loadNativeGcm, NATIVE_GCM_PATH } from "../../src/gateway/native-gcm.ts";
import {
  type CipherKeys,
  DEFAULT_AUTHENTICATION_KEY,
  decryptFrame,
  type EncryptedFrame,
  encryptFrame,
  parseEncryptedFrame,
} from "../../src/smarty/index.ts";

const KEY = Buffer.from("000102030405060708090A0B0C0D0E0F", "hex");
const TITLE = Buffer.from("5341476770000001", "hex");

function parsed(bytes: Buffer): EncryptedFrame {
  const r = parseEncryptedFrame(bytes);
  if (!r.ok) throw r.error;
  return r.frame;
}

/** Both paths' results, reduced to what a caller can see: the plaintext, or the error's code/message/context. */
function outcome(r: ReturnType<typeof decryptFrame>): unknown {
  return r.ok
    ? { plaintext: r.plaintext.toString("hex") }
    : { code: r.error.code, message: r.error.message, context: r.error.context };
}

const load = loadNativeGcm();
const native = load.ok ? load.gcm : undefined;

/** decryptFrame with the addon and without (node:crypto): the same outcome; returns the addon's. */
function expectSame(frame: EncryptedFrame, keys: CipherKeys): ReturnType<typeof decryptFrame> {
  const withAddon = decryptFrame(frame, keys, native);
  expect(outcome(withAddon)).toEqual(outcome(decryptFrame(frame, keys)));
  return withAddon;
}

describe("native AES-GCM loader", () => {
  it("falls back when disabled by P1_NATIVE_GCM=0 or when the addon is missing", () => {
    expect(loadNativeGcm({ P1_NATIVE_GCM: "0" })).toEqual({
      ok: false,
      reason: "disabled by P1_NATIVE_GCM=0",
    });
    const missing = loadNativeGcm({}, "/nonexistent/p1_gcm.node");
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.reason).toMatch(/^not loaded \(/);
  });

  // A build that does not load or fails the known-answer check is a defect, not a reason to skip.
  it.skipIf(!existsSync(NATIVE_GCM_PATH))(
    "loads the built addon and it passes its known-answer check",
    () => {
      const built = loadNativeGcm({});
      expect(built.ok ? "loaded" : built.reason).toBe("loaded");
    },
  );
});

describe.skipIf(!load.ok)(
  `native AES-GCM addon${load.ok ? "" : ` (skipped: ${load.reason}; run npm ci or node src/smarty/native/build.mjs)`}`,
  () => {
    it("is the implementation TelegramDecoder uses", () => {
      expect(gcmImplementation()).toEqual({ implementation: "native" });
    });

    it("decrypts the simulator's Smarty frames to the same bytes as node:crypto", () => {
      const sim = new Simulator({ version: "smarty", seed: 11, key: KEY });
      for (let i = 0; i < 200; i++) {
        const frame = sim.next().telegram.frame;
        if (!frame) throw new Error("the simulator sent no frame");
        const r = expectSame(parsed(frame), { key: KEY });
        expect(r.ok).toBe(true);
      }
    });

    it("matches node:crypto for random keys, IVs, AADs and plaintexts (0 bytes to 3 KB)", () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          fc.option(fc.uint8Array({ minLength: 0, maxLength: 40 }), { nil: undefined }),
          fc.uint8Array({ minLength: 8, maxLength: 8 }),
          fc.nat({ max: 0xffffffff }),
          fc.uint8Array({ minLength: 0, maxLength: 3000 }),
          (key, authenticationKey, title, counter, plaintext) => {
            const keys = authenticationKey === undefined ? { key } : { key, authenticationKey };
            const frame = parsed(encryptFrame(plaintext, title, counter, keys));
            const r = expectSame(frame, keys);
            expect(r.ok && Buffer.from(plaintext).equals(r.plaintext)).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it("fails a mutated frame exactly as node:crypto does, and the next good frame still decrypts", () => {
      const sim = new Simulator({ version: "smarty", seed: 3, key: KEY });
      const good = sim.next().telegram.frame;
      if (!good) throw new Error("the simulator sent no frame");
      fc.assert(
        fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
          const bad = Buffer.from(good);
          bad[at] = (bad[at] ?? 0) ^ xor;
          const frame = parseEncryptedFrame(bad);
          // A flip in the header may make the frame unparseable: no decryption to compare then.
          if (frame.ok) {
            const r = expectSame(frame.frame, { key: KEY });
            // Only a flip outside what GCM covers (the length byte 0x82 check aside) could pass; none is.
            expect(r.ok).toBe(false);
          }
          expect(expectSame(parsed(good), { key: KEY }).ok).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it("each plaintext keeps its bytes while later frames are decrypted, failed ones among them", () => {
      // Plaintexts are cut from shared slabs: 300 frames of ~1 KB fill several, a failure wipes its own.
      const sim = new Simulator({ version: "smarty", seed: 21, key: KEY });
      const frames = Array.from({ length: 300 }, () => parsed(sim.next().telegram.frame as Buffer));
      const kept: Buffer[] = [];
      for (const [i, frame] of frames.entries()) {
        const r = decryptFrame(frame, { key: KEY }, native);
        if (!r.ok) throw r.error;
        kept.push(r.plaintext);
        if (i % 7 === 0)
          expect(decryptFrame({ ...frame, tag: Buffer.alloc(12) }, { key: KEY }, native).ok).toBe(false);
      }
      for (const [i, frame] of frames.entries()) {
        const expected = decryptFrame(frame, { key: KEY });
        expect(expected.ok && expected.plaintext.equals(kept[i] as Buffer)).toBe(true);
      }
    });

    it("keeps no state between frames: good, bad, good; and a bad first frame", () => {
      const key = Buffer.from("f0e1d2c3b4a5968778695a4b3c2d1e0f", "hex"); // a fresh context
      const plaintext = Buffer.from("/ISK5\\2M550T-1012\r\n\r\n1-3:0.2.8(50)\r\n!ABCD\r\n");
      const one = parsed(encryptFrame(plaintext, TITLE, 1, { key }));
      const two = parsed(encryptFrame(plaintext, TITLE, 2, { key }));
      const badTag = { ...two, tag: Buffer.from(two.tag).fill(0) };
      const badCipher = { ...one, ciphertext: Buffer.from(one.ciphertext).reverse() };
      expect(expectSame(badTag, { key }).ok).toBe(false);
      for (const frame of [one, badTag, two, badCipher, badCipher, one, two]) {
        const r = expectSame(frame, { key });
        expect(r.ok).toBe(frame === one || frame === two);
      }
      const wrongAuth = { key, authenticationKey: Buffer.alloc(16, 7) };
      expect(expectSame(one, wrongAuth).ok).toBe(false);
      expect(expectSame(one, { key }).ok).toBe(true);
    });

    it("re-keys when the key buffer is refilled with another key", () => {
      const key = Buffer.from(KEY);
      const plaintext = Buffer.from("/X\r\n!");
      const frame = parsed(encryptFrame(plaintext, TITLE, 9, { key: KEY }));
      expect(expectSame(frame, { key }).ok).toBe(true);
      key[0] = (key[0] ?? 0) ^ 1;
      expect(expectSame(frame, { key }).ok).toBe(false);
      key.set(KEY);
      expect(expectSame(frame, { key }).ok).toBe(true);
    });

    it("treats odd shapes (key, title, tag, counter) as node:crypto does", () => {
      const frame = parsed(encryptFrame(Buffer.from("/X\r\n!"), TITLE, 5, { key: KEY }));
      const cases: [EncryptedFrame, CipherKeys][] = [
        [frame, { key: KEY.subarray(0, 15) }],
        [frame, { key: Buffer.concat([KEY, KEY]) }],
        [frame, { key: new Uint8Array(0) }],
        [{ ...frame, systemTitle: TITLE.subarray(0, 7) }, { key: KEY }],
        [{ ...frame, systemTitle: Buffer.concat([TITLE, TITLE]) }, { key: KEY }],
        [{ ...frame, tag: Buffer.concat([frame.tag, Buffer.alloc(4)]) }, { key: KEY }],
        [{ ...frame, tag: frame.tag.subarray(0, 4) }, { key: KEY }],
        [{ ...frame, frameCounter: -1 }, { key: KEY }],
        [{ ...frame, frameCounter: 2 ** 32 }, { key: KEY }],
        [{ ...frame, frameCounter: 5.5 }, { key: KEY }],
        [{ ...frame, frameCounter: Number.NaN }, { key: KEY }],
      ];
      // (node:crypto takes a counter of 5.5 or NaN, written as 5 and 0: so does the fallback it goes to.)
      for (const [f, keys] of cases) expectSame(f, keys);
    });

    it("decrypts a 4 MB ciphertext and rejects a 4 MB forgery", () => {
      const plaintext = Buffer.alloc(4 << 20, 0x5a);
      // Too long for a frame's 16-bit length field: the frame's parts are built directly.
      const cipher = createCipheriv("aes-128-gcm", KEY, Buffer.concat([TITLE, Buffer.of(0, 0, 0, 1)]), {
        authTagLength: 12,
      });
      cipher.setAAD(Buffer.concat([Buffer.of(0x30), DEFAULT_AUTHENTICATION_KEY]));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      const frame = {
        systemTitle: TITLE,
        securityByte: 0x30,
        frameCounter: 1,
        ciphertext,
        tag: cipher.getAuthTag(),
      };
      const r = expectSame(frame, { key: KEY });
      expect(r.ok && r.plaintext.equals(plaintext)).toBe(true);
      ciphertext.writeUInt8((ciphertext.at(-1) ?? 0) ^ 1, ciphertext.length - 1);
      expect(expectSame({ ...frame, ciphertext }, { key: KEY }).ok).toBe(false);
    });

    it("refuses arguments of the wrong shape without decrypting (a throw, not a crash)", () => {
      if (!load.ok) return;
      const { gcm } = load;
      const context = gcm.newContext();
      const aad = Buffer.alloc(17);
      const tag = Buffer.alloc(12);
      const ct = Buffer.alloc(10);
      const out = Buffer.alloc(10);
      const overlap = Buffer.alloc(20);
      const calls: (() => unknown)[] = [
        () => gcm.decrypt(context, KEY.subarray(1), aad, TITLE, 1, ct, tag, out),
        () => gcm.decrypt(context, KEY, aad, TITLE.subarray(1), 1, ct, tag, out),
        () => gcm.decrypt(context, KEY, aad, TITLE, 1, ct, tag.subarray(1), out),
        () => gcm.decrypt(context, KEY, aad, TITLE, 1, ct, tag, out.subarray(1)),
        () => gcm.decrypt(context, KEY, aad, TITLE, 1, ct, tag, Buffer.alloc(11)),
        () => gcm.decrypt(context, KEY, aad, TITLE, 1, overlap.subarray(0, 10), tag, overlap.subarray(5, 15)),
        () => gcm.decrypt(context, KEY, aad, TITLE, 1, overlap.subarray(5, 15), tag, overlap.subarray(0, 10)),
        () => gcm.decrypt(context, KEY, aad, TITLE, -1, ct, tag, out),
        () => gcm.decrypt(context, KEY, aad, TITLE, 2 ** 32, ct, tag, out),
        () => gcm.decrypt(context, KEY, aad, TITLE, Number.NaN, ct, tag, out),
        () => Reflect.apply(gcm.decrypt, gcm, [{}, KEY, aad, TITLE, 1, ct, tag, out]),
        () => Reflect.apply(gcm.decrypt, gcm, [context, "key", aad, TITLE, 1, ct, tag, out]),
        () => Reflect.apply(gcm.decrypt, gcm, [context, KEY, aad, TITLE, "1", ct, tag, out]),
        () => Reflect.apply(gcm.decrypt, gcm, [context, KEY, aad, TITLE, 1, ct, tag, "out"]),
        () => Reflect.apply(gcm.decrypt, gcm, [context, KEY, aad]),
      ];
      for (const call of calls) expect(call).toThrow();
      // Empty AAD and empty ciphertext are legal (nothing is fed to OpenSSL) and agree with node:crypto.
      const iv = Buffer.concat([TITLE, Buffer.of(0, 0, 0, 3)]);
      const cipher = createCipheriv("aes-128-gcm", KEY, iv, { authTagLength: 12 });
      cipher.update(Buffer.alloc(0));
      cipher.final();
      const emptyTag = cipher.getAuthTag();
      const none = Buffer.alloc(0);
      expect(gcm.decrypt(context, KEY, none, TITLE, 3, none, emptyTag, none)).toBe(true);
      expect(gcm.decrypt(context, KEY, Buffer.of(0x30), TITLE, 3, none, emptyTag, none)).toBe(false);
      expect(gcm.decrypt(context, KEY, none, TITLE, 4, none, emptyTag, none)).toBe(false);
      // In place (out is the ciphertext) is what CTR mode allows; a failed tag wipes what was written.
      const plaintext = Buffer.from("/X\r\n1-0:1.8.1(000001.000*kWh)\r\n!");
      const frame = parsed(encryptFrame(plaintext, TITLE, 8, { key: KEY }));
      const aad30 = Buffer.concat([Buffer.of(0x30), DEFAULT_AUTHENTICATION_KEY]);
      const inPlace = Buffer.from(frame.ciphertext);
      expect(gcm.decrypt(context, KEY, aad30, TITLE, 8, inPlace, frame.tag, inPlace)).toBe(true);
      expect(inPlace.equals(plaintext)).toBe(true);
      const wiped = Buffer.alloc(frame.ciphertext.length, 0xee);
      expect(gcm.decrypt(context, KEY, aad30, TITLE, 9, frame.ciphertext, frame.tag, wiped)).toBe(false);
      expect(wiped.every((b) => b === 0)).toBe(true);
    });
  },
);
