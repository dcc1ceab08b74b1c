import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { fileErrorReason } from "../shared/index.ts";
import { type GrpcTlsConfig, type RawConfig, readGrpcToken } from "./schema.ts";

/** One thing wrong with a key (same shape as the loader's problems). */
interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

// A certificate chain or CA bundle is a few kilobytes (a full system CA bundle is ~200 KB); anything
// larger is the wrong file, and reading it whole must stay cheap.
const MAX_PEM_BYTES = 1024 * 1024;
// A token file holds one line.
const MAX_TOKEN_FILE_BYTES = 8 * 1024;
// Readable by group or others (ssh refuses private keys for the same bits): a key there is not private.
const SHARED_READ_BITS = 0o044;

/** The gRPC TLS and token settings, read and checked; absent keys stay absent. */
export interface GrpcSecurity {
  readonly grpcTls?: GrpcTlsConfig;
  readonly grpcToken?: Buffer;
  readonly grpcTokenFile?: string;
}

function readSmall(path: string, maxBytes: number): { ok: true; data: Buffer } | { ok: false; why: string } {
  try {
    const size = statSync(path).size;
    if (size > maxBytes) return { ok: false, why: `${size} bytes; expected at most ${maxBytes}` };
    return { ok: true, data: readFileSync(path) };
  } catch (e) {
    return { ok: false, why: fileErrorReason(e) };
  }
}

/**
 * Reads the PEM file of `key` and checks it with `check`; pushes a problem naming the key (and the path,
 * which is not secret, but never the content) when it cannot be read or is not what the key wants.
 */
function readPem<T>(
  key: string,
  path: string,
  problems: Problem[],
  check: (pem: Buffer) => T,
  what: string,
): { path: string; pem: Buffer; parsed: T } | undefined {
  const file = readSmall(path, MAX_PEM_BYTES);
  if (!file.ok) {
    problems.push({ path: [key], message: `cannot read ${path}: ${file.why}` });
    return undefined;
  }
  try {
    return { path, pem: file.data, parsed: check(file.data) };
  } catch {
    // node:crypto's message may quote the file's bytes (a private key): say only what was expected.
    problems.push({ path: [key], message: `${path} is not ${what}` });
    return undefined;
  }
}

/**
 * The gRPC TLS files and token of a file's (or the flags') keys: files are read and checked now, so a
 * missing or wrong file is a configuration error naming its key at start, not a failure on first call.
 * Relative paths are relative to `baseDir` (the configuration file's directory).
 */
export function resolveGrpcSecurity(
  raw: RawConfig,
  problems: Problem[],
  baseDir: string | undefined,
): GrpcSecurity {
  const at = (p: string): string => (baseDir === undefined ? p : resolve(baseDir, p));
  const out: { grpcTls?: GrpcTlsConfig; grpcToken?: Buffer; grpcTokenFile?: string } = {};

  if (raw.grpcTlsCert === undefined) {
    for (const k of ["grpcTlsKey", "grpcTlsClientCa"] as const) {
      if (raw[k] !== undefined)
        problems.push({ path: [k], message: "needs grpcTlsCert (TLS is off without it)" });
    }
  } else if (raw.grpcTlsKey === undefined) {
    problems.push({ path: ["grpcTlsKey"], message: "missing: grpcTlsCert needs its private key" });
  } else {
    const cert = readPem(
      "grpcTlsCert",
      at(raw.grpcTlsCert),
      problems,
      (pem) => new X509Certificate(pem),
      "a PEM certificate",
    );
    const key = readPem<KeyObject>(
      "grpcTlsKey",
      at(raw.grpcTlsKey),
      problems,
      (pem) => createPrivateKey(pem),
      "a PEM private key (unencrypted)",
    );
    const ca =
      raw.grpcTlsClientCa === undefined
        ? undefined
        : readPem(
            "grpcTlsClientCa",
            at(raw.grpcTlsClientCa),
            problems,
            (pem) => new X509Certificate(pem),
            "a PEM CA certificate",
          );
    if (cert && key && !cert.parsed.checkPrivateKey(key.parsed)) {
      problems.push({ path: ["grpcTlsKey"], message: `${key.path} is not the key of ${cert.path}` });
    } else if (cert && key && (raw.grpcTlsClientCa === undefined || ca)) {
      out.grpcTls = {
        certFile: cert.path,
        cert: cert.pem,
        keyFile: key.path,
        key: key.pem,
        ...(ca ? { clientCaFile: ca.path, clientCa: ca.pem } : {}),
      };
    }
  }

  if (raw.grpcToken !== undefined && raw.grpcTokenFile !== undefined) {
    problems.push({ path: ["grpcTokenFile"], message: "give grpcToken or grpcTokenFile, not both" });
  } else if (raw.grpcToken !== undefined) {
    out.grpcToken = raw.grpcToken;
  } else if (raw.grpcTokenFile !== undefined) {
    const path = at(raw.grpcTokenFile);
    const file = readSmall(path, MAX_TOKEN_FILE_BYTES);
    if (!file.ok) problems.push({ path: ["grpcTokenFile"], message: `cannot read ${path}: ${file.why}` });
    else {
      const token = readGrpcToken(file.data.toString("utf8"));
      if (token.ok) {
        out.grpcToken = token.value;
        out.grpcTokenFile = path;
      } else problems.push({ path: ["grpcTokenFile"], message: `${path}: ${token.problem}` });
    }
  }
  return out;
}

/**
 * A warning when the file at `path`, which holds `what`, can be read by group or others; null when it
 * cannot (or on Windows, whose permissions mode bits do not describe). Names the file, never its content.
 */
export function sharedFileWarning(path: string, what: string): string | null {
  if (process.platform === "win32") return null;
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return null; // it was read a moment ago; a file that vanished since is not a secret lying around
  }
  if ((mode & SHARED_READ_BITS) === 0) return null;
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  return `${path} holds ${what} and is readable by other users (mode ${octal}): run chmod 600 ${path}`;
}
