import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { type ParseResult, parseTelegram, type Telegram, type Value } from "../../src/dsmr/index.ts";
import { type ErrorCode, isP1Error } from "../../src/shared/index.ts";

/** Absolute path of a project fixture. */
export function fixturePath(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), "../fixtures", name);
}

/** Bytes of a hand-written fixture telegram under test/fixtures. */
export function fixture(name: string): Buffer {
  return readFileSync(fixturePath(name));
}

/** Parses and asserts success. */
export function parseOk(bytes: Uint8Array): Telegram {
  const r = parseTelegram(bytes);
  if (!r.ok) throw new Error(`expected a valid telegram, got ${r.error.code}: ${r.error.message}`);
  return r.telegram;
}

/** Asserts a parse failed with the given code. */
export function expectParseError(r: ParseResult, code: ErrorCode): void {
  expect(r.ok).toBe(false);
  if (!r.ok) expect(isP1Error(r.error, code), `${r.error.code}: ${r.error.message}`).toBe(true);
}

/** The value of an object by OBIS as written. */
export function objectValue(t: Telegram, obis: string): Value {
  const o = t.objects.find((x) => x.obis === obis);
  if (!o) throw new Error(`no object ${obis} in telegram`);
  return o.value;
}

/** Numeric value of a decimal or reading object. */
export function numberOf(t: Telegram, obis: string): number {
  const v = objectValue(t, obis);
  if (v.kind !== "decimal" && v.kind !== "reading") throw new Error(`${obis} is ${v.kind}, not a number`);
  return v.value;
}
