// The optional AES-128-GCM addon's interface (src/smarty/native/: gcm.c, built by build.mjs during
// `npm ci`) and its known-answer check. Pure: loading the addon is I/O, done by src/gateway/native-gcm.ts,
// which hands it to decryptFrame.
import { decryptFrame, encryptFrame } from "./cipher.ts";
import { type EncryptedFrame, parseEncryptedFrame } from "./frame.ts";

/** An EVP_CIPHER_CTX held by the addon; freed when the object is collected. */
declare const contextBrand: unique symbol;
export type NativeGcmContext = { readonly [contextBrand]: true };

export interface NativeGcm {
  newContext(): NativeGcmContext;
  /**
   * Writes the plaintext into `out` (as long as the ciphertext) and returns true, or returns false when
   * the tag does not verify (`out` wiped). Throws on arguments of the wrong shape.
   */
  decrypt(
    context: NativeGcmContext,
    key: Uint8Array,
    aad: Uint8Array,
    systemTitle: Uint8Array,
    frameCounter: number,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean;
}

/**
 * Whether the addon agrees with node:crypto on a known answer: a frame encryptFrame made decrypts to
 * its plaintext, the same frame with a bad tag is refused, and the good one decrypts again after it.
 * An addon that fails is not used.
 */
export function checkNativeGcm(gcm: NativeGcm): boolean {
  const keys = { key: Buffer.from("000102030405060708090a0b0c0d0e0f", "hex") };
  const plaintext = Buffer.from("/KFM5KAIFA-METER\r\n\r\n1-0:1.8.1(000123.456*kWh)\r\n!");
  const bytes = encryptFrame(plaintext, Buffer.from("5341476770000001", "hex"), 42, keys);
  const good = parseEncryptedFrame(bytes);
  if (!good.ok) return false;
  const badTag = Buffer.from(good.frame.tag);
  badTag[0] = (badTag[0] ?? 0) ^ 1;
  const bad = { ...good.frame, tag: badTag };
  const decrypts = (frame: EncryptedFrame) => {
    const r = decryptFrame(frame, keys, gcm);
    return r.ok && r.plaintext.equals(plaintext);
  };
  return decrypts(good.frame) && !decryptFrame(bad, keys, gcm).ok && decrypts(good.frame);
}
