import { createCipheriv, createDecipheriv } from "node:crypto";
import { P1Error } from "../shared/index.ts";
import { type EncryptedFrame, GCM_TAG_BYTES, SECURITY_AUTH_ENC } from "./frame.ts";
import type { NativeGcm, NativeGcmContext } from "./native-gcm.ts";

/** Smarty's published default authentication key, used when the grid operator gave only the encryption key. */
export const DEFAULT_AUTHENTICATION_KEY = Buffer.from("00112233445566778899AABBCCDDEEFF", "hex");

/** Keys for AES-128-GCM: a 16-byte encryption key and a 16-byte authentication key (AAD). */
export interface CipherKeys {
  readonly key: Uint8Array;
  readonly authenticationKey?: Uint8Array;
}

/** The GCM IV, system title + frame counter, written into `out` (12 bytes); a short title leaves zeros. */
function ivInto(out: Buffer, systemTitle: Uint8Array, frameCounter: number): Buffer {
  out.fill(0);
  out.set(systemTitle, 0);
  out.writeUInt32BE(frameCounter, 8);
  return out;
}

// The AAD is the same for every frame of a meter: built once per authentication key, not per frame.
const AADS = new WeakMap<Uint8Array, Buffer>();

function aad(keys: CipherKeys): Buffer {
  const authenticationKey = keys.authenticationKey ?? DEFAULT_AUTHENTICATION_KEY;
  let out = AADS.get(authenticationKey);
  if (out === undefined) {
    out = Buffer.concat([Buffer.of(SECURITY_AUTH_ENC), authenticationKey]);
    AADS.set(authenticationKey, out);
  }
  return out;
}

/*
 * The native path's plaintexts are cut from slabs of SLAB_BYTES: an ArrayBuffer of its own per frame
 * costs twice a view, and Buffer's 8 KB pool makes a new one (~4 µs) every seven ~1 KB frames. A
 * plaintext keeps its slab alive as long as it is kept; nothing here keeps one beyond its telegram (the
 * parser and the recent-telegrams ring copy bytes), so at most the slab being filled stays.
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

function plaintextBuffer(length: number): Buffer {
  if (length > SLAB_BYTES >>> 3) return Buffer.allocUnsafe(length);
  if (slabUsed + length > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + length);
  slabUsed += (length + 7) & ~7; // 8-byte aligned, as Buffer's pool does
  return out;
}

// One native context per key buffer: the addon keeps the key schedule and compares the key bytes on
// every call, so a buffer later refilled with another key is re-keyed, never decrypted with the old one.
const CONTEXTS = new WeakMap<Uint8Array, NativeGcmContext>();

/**
 * Decrypts and authenticates a frame: IV = system title + frame counter, AAD = 0x30 + authentication key,
 * 12-byte tag always verified. A wrong key or authentication key fails the tag: DECRYPT_FAILED.
 * With `native` (the addon, loaded by src/gateway/native-gcm.ts) the same result, at a fraction of
 * node:crypto's cost per frame (it creates a decipher per frame); without it, node:crypto.
 */
export function decryptFrame(
  frame: EncryptedFrame,
  keys: CipherKeys,
  native?: NativeGcm,
): { ok: true; plaintext: Buffer } | { ok: false; error: P1Error } {
  // The addon takes only the shapes it was written for; anything else (a wrong-size key, …) goes to
  // node:crypto, which fails it with the same error it always did.
  if (
    native === undefined ||
    keys.key.length !== 16 ||
    frame.systemTitle.length !== 8 ||
    frame.tag.length !== GCM_TAG_BYTES ||
    frame.frameCounter >>> 0 !== frame.frameCounter
  ) {
    return decryptWithNodeCrypto(frame, keys);
  }
  let context = CONTEXTS.get(keys.key);
  const plaintext = plaintextBuffer(frame.ciphertext.length);
  let verified: boolean;
  try {
    if (context === undefined) {
      context = native.newContext();
      CONTEXTS.set(keys.key, context);
    }
    verified = native.decrypt(
      context,
      keys.key,
      aad(keys),
      frame.systemTitle,
      frame.frameCounter,
      frame.ciphertext,
      frame.tag,
      plaintext,
    );
  } catch (cause) {
    return { ok: false, error: decryptFailed(frame, cause) };
  }
  if (!verified) {
    return {
      ok: false,
      error: decryptFailed(frame, new Error("unable to authenticate data (native AES-GCM)")),
    };
  }
  return { ok: true, plaintext };
}

// createDecipheriv copies the IV before it returns, so one buffer serves every frame: a new 12-byte
// Buffer per frame is a small on-heap array that node's C++ side must first move off the heap (~0.5 µs
// a frame measured, of ~8).
const SCRATCH_IV = Buffer.alloc(12);
const GCM_OPTIONS = { authTagLength: GCM_TAG_BYTES };

function decryptWithNodeCrypto(
  frame: EncryptedFrame,
  keys: CipherKeys,
): { ok: true; plaintext: Buffer } | { ok: false; error: P1Error } {
  try {
    const decipher = createDecipheriv(
      "aes-128-gcm",
      keys.key,
      ivInto(SCRATCH_IV, frame.systemTitle, frame.frameCounter),
      GCM_OPTIONS,
    );
    decipher.setAAD(aad(keys));
    decipher.setAuthTag(frame.tag);
    const plaintext = decipher.update(frame.ciphertext);
    const rest = decipher.final(); // GCM is a stream mode: empty, and then not worth a copy
    return { ok: true, plaintext: rest.length === 0 ? plaintext : Buffer.concat([plaintext, rest]) };
  } catch (cause) {
    return { ok: false, error: decryptFailed(frame, cause) };
  }
}

function decryptFailed(frame: EncryptedFrame, cause: unknown): P1Error {
  return new P1Error(
    "DECRYPT_FAILED",
    "decryption failed: the GCM tag does not verify (wrong decryption key or authentication key)",
    {
      systemTitle: Buffer.from(frame.systemTitle).toString("hex").toUpperCase(),
      frameCounter: frame.frameCounter,
    },
    { cause },
  );
}

/** Encrypts a telegram into a complete frame as a meter sends it (used by the simulator and tests). */
export function encryptFrame(
  plaintext: Uint8Array,
  systemTitle: Uint8Array,
  frameCounter: number,
  keys: CipherKeys,
): Buffer {
  const cipher = createCipheriv(
    "aes-128-gcm",
    keys.key,
    ivInto(Buffer.alloc(12), systemTitle, frameCounter),
    GCM_OPTIONS,
  );
  cipher.setAAD(aad(keys));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const header = Buffer.alloc(18);
  header[0] = 0xdb;
  header[1] = 8;
  header.set(systemTitle, 2);
  header[10] = 0x82;
  header.writeUInt16BE(5 + ciphertext.length + tag.length, 11);
  header[13] = SECURITY_AUTH_ENC;
  header.writeUInt32BE(frameCounter, 14);
  return Buffer.concat([header, ciphertext, tag]);
}

/** What a frame counter says about a frame compared with the last one seen from the same meter. */
export type CounterStatus = "first" | "ok" | "replay" | "reset";

/**
 * Below this a counter that went backwards is taken as the meter restarting its count (it starts again
 * near zero after a firmware update or reset); above it, as an old frame replayed.
 */
const COUNTER_RESET_BELOW = 1024;

/** Tracks frame counters per system title (pure state, no I/O). */
export class FrameCounterTracker {
  readonly #last = new Map<string, number>();

  /** Classifies a frame counter and remembers it unless it is a replay. */
  observe(systemTitle: Uint8Array, frameCounter: number): CounterStatus {
    return this.observeId(Buffer.from(systemTitle).toString("hex").toUpperCase(), frameCounter);
  }

  /** observe, for a meter named by its system title in upper-case hex (as EncryptionInfo has it). */
  observeId(systemTitleHex: string, frameCounter: number): CounterStatus {
    const id = systemTitleHex;
    const last = this.#last.get(id);
    let status: CounterStatus;
    if (last === undefined) status = "first";
    else if (frameCounter > last) status = "ok";
    else if (frameCounter < COUNTER_RESET_BELOW && last - frameCounter > COUNTER_RESET_BELOW)
      status = "reset";
    else status = "replay";
    if (status !== "replay") this.#last.set(id, frameCounter);
    return status;
  }
}
