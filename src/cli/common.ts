import { readFileSync } from "node:fs";
import { fileErrorReason } from "../shared/index.ts";

/** Thrown for usage and configuration errors; `main` turns it into a message and exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Parses a 16-byte AES key given as 32 hex digits; the key itself never appears in the message. */
export function parseAesKey(option: string, hex: string): Uint8Array {
  const clean = hex.replace(/[\s:-]/g, "");
  if (!/^[0-9A-Fa-f]{32}$/.test(clean)) {
    throw new UsageError(`${option} must be 32 hex digits (16 bytes); got ${clean.length} characters`);
  }
  return Uint8Array.from(Buffer.from(clean, "hex"));
}

/** Reads a whole input: a file path, or `-` / nothing for stdin. */
export function readInput(path: string | undefined): Buffer {
  if (path === undefined || path === "-") return readFileSync(0);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${fileErrorReason(e)}`);
  }
}

/** Parses a positive integer option. */
export function parsePositiveInt(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${option} must be a positive whole number, got ${JSON.stringify(text)}`);
  return n;
}
