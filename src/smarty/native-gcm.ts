// Loader for the optional AES-128-GCM addon (src/smarty/native/: gcm.c, built by build.mjs during
// `npm ci`). The addon is loaded by path at run time, never bundled: from dist/main.js this module's
// import.meta.url still names src/smarty/ (build.mjs rewrites it), so the path is the same either way.
import { createCipheriv } from "node:crypto";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

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

export type NativeGcmLoad = { ok: true; gcm: NativeGcm } | { ok: false; reason: string };

/** Where build.mjs leaves the addon. */
export const NATIVE_GCM_PATH = fileURLToPath(new URL("./native/build/Release/p1_gcm.node", import.meta.url));

/**
 * Loads the addon unless P1_NATIVE_GCM=0 says not to. Bound with RTLD_NOW so that an addon whose
 * OpenSSL symbols this node does not export fails here, not at its first call; then a known-answer
 * check against node:crypto (a good tag decrypts to the same bytes, a bad one is refused), so an
 * addon that loads but computes wrongly is never used.
 */
export function loadNativeGcm(env: NodeJS.ProcessEnv = process.env, path = NATIVE_GCM_PATH): NativeGcmLoad {
  if (env.P1_NATIVE_GCM === "0") return { ok: false, reason: "disabled by P1_NATIVE_GCM=0" };
  const module = { exports: {} as NativeGcm };
  try {
    process.dlopen(module, path, constants.dlopen.RTLD_NOW);
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { ok: false, reason: `not loaded (${message})` };
  }
  const gcm = module.exports;
  try {
    if (!selfCheck(gcm)) return { ok: false, reason: "failed its known-answer check against node:crypto" };
  } catch (error) {
    return { ok: false, reason: `threw in its known-answer check (${String(error)})` };
  }
  return { ok: true, gcm };
}

function selfCheck(gcm: NativeGcm): boolean {
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
