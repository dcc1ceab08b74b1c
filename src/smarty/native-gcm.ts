// The optional AES-128-GCM addon's interface (src/smarty/native/: gcm.c, built by build.mjs during
// `npm ci`) and its known-answer check. Pure: loading the addon is I/O, done by src/gateway/native-gcm.ts,
// which hands it to decryptFrame.
import { createCipheriv } from "node:crypto";

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
 * Whether the addon agrees with node:crypto on a known answer: a good tag decrypts to the same bytes,
 * a bad one is refused, and the good one decrypts again after it. An addon that fails is not used.
 */
export function checkNativeGcm(gcm: NativeGcm): boolean {
  const key = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
  const title = Buffer.from("5341476770000001", "hex");
  const iv = Buffer.concat([title, Buffer.from("0000002a", "hex")]);
  const aad = Buffer.from("30ffeeddccbbaa99887766554433221100", "hex");
  const plaintext = Buffer.from("/KFM5KAIFA-METER\r\n\r\n1-0:1.8.1(000123.456*kWh)\r\n!");
  const cipher = createCipheriv("aes-128-gcm", key, iv, { authTagLength: 12 });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const context = gcm.newContext();
  const decrypt = (t: Buffer) => {
    const out = Buffer.alloc(ciphertext.length);
    return gcm.decrypt(context, key, aad, title, 42, ciphertext, t, out) ? out : null;
  };
  const badTag = Buffer.from(tag);
  badTag[0] = (badTag[0] ?? 0) ^ 1;
  return (
    decrypt(tag)?.equals(plaintext) === true &&
    decrypt(badTag) === null &&
    decrypt(tag)?.equals(plaintext) === true
  );
}
