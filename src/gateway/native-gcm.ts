// Loads the optional AES-128-GCM addon for decryptFrame (src/smarty/native/, built during `npm ci`).
// The addon is loaded by path at run time, never bundled: from dist/main.js this module's
// import.meta.url still names src/gateway/ (build.mjs rewrites it), so the path is the same either way.
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { checkNativeGcm, type NativeGcm } from "../smarty/index.ts";

export type NativeGcmLoad = { ok: true; gcm: NativeGcm } | { ok: false; reason: string };

/** Where src/smarty/native/build.mjs leaves the addon. */
export const NATIVE_GCM_PATH = fileURLToPath(
  new URL("../smarty/native/build/Release/p1_gcm.node", import.meta.url),
);

/**
 * Loads the addon unless P1_NATIVE_GCM=0 says not to. Bound with RTLD_NOW, so that an addon whose
 * OpenSSL symbols this node does not export fails here, not at its first call; then checked against
 * node:crypto (checkNativeGcm), so an addon that loads but computes wrongly is never used.
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
  try {
    if (!checkNativeGcm(module.exports)) {
      return { ok: false, reason: "failed its known-answer check against node:crypto" };
    }
  } catch (error) {
    return { ok: false, reason: `threw in its known-answer check (${String(error)})` };
  }
  return { ok: true, gcm: module.exports };
}

// Loaded on first use, so a gateway without encrypted meters never opens the addon.
let loaded: NativeGcmLoad | undefined;

/** The addon for decryptFrame, or undefined when node:crypto is to be used. */
export function nativeGcm(): NativeGcm | undefined {
  loaded ??= loadNativeGcm();
  return loaded.ok ? loaded.gcm : undefined;
}

/** Which AES-GCM decryption TelegramDecoder uses and, for node:crypto, why the addon is not used. */
export function gcmImplementation(): { implementation: "native" | "node:crypto"; reason?: string } {
  loaded ??= loadNativeGcm();
  return loaded.ok ? { implementation: "native" } : { implementation: "node:crypto", reason: loaded.reason };
}

/**
 * For the log and the diagnostics bundle: which AES-GCM decrypts the frames ("native addon", or
 * node:crypto and why the addon is not used).
 */
export function aesGcmInUse(): string {
  const { implementation, reason } = gcmImplementation();
  return implementation === "native" ? "native addon" : `node:crypto, addon ${reason}`;
}
