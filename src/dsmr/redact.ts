import { mbusKey } from "./spec/lookup.ts";
import { OBJECTS } from "./spec/objects.ts";
import type { ObjectDef } from "./spec/types.ts";

/** What replaces each character of a masked value: not a hex digit, so a masked id never reads as one. */
export const MASK_CHAR = "X";

// Every OBIS (M-Bus ones with `n`) whose object the tables mark as the meter's identifier, in any version:
// equipment ids (0-0:96.1.1, 0-n:96.1.0, e-MUCS 0-n:96.1.1), serial numbers (0-0:96.1.0), logical
// device names (0-0:42.0.0) and the legacy per-medium ids. Driven by `role`, so a new table entry counts.
const IDENTIFIER_OBIS: ReadonlySet<string> = new Set(
  Object.values(OBJECTS as Readonly<Record<string, ObjectDef>>)
    .filter((d) => d.role === "identifier")
    .map((d) => d.obis),
);

// A COSEM line: OBIS A-B:C.D.E (optional fifth group), then its value groups (IEC 62056-21 data set).
const LINE_RE = /^(\d{1,3})-(\d{1,3}):(\d{1,3}\.\d{1,3}\.\d{1,3})(?:[.*]\d{1,3})?(?=\()/;
const GROUP_RE = /\(([^()]*)\)/g;

/** A telegram's text with identifiers masked, and how many values were masked. */
export interface MaskedTelegram {
  readonly text: string;
  readonly masked: number;
}

function isIdentifier(line: string): boolean {
  const m = LINE_RE.exec(line);
  if (!m) return false;
  const [, a, b, cde] = m as unknown as [string, string, string, string];
  const key = `${Number(a)}-${Number(b)}:${cde}`;
  return IDENTIFIER_OBIS.has(key) || (Number(b) > 0 && IDENTIFIER_OBIS.has(mbusKey(a, cde)));
}

/**
 * The telegram text with the value of every identifier object (equipment ids, serial numbers) replaced
 * by as many MASK_CHARs, so line lengths and structure stay as the meter wrote them. Everything else is
 * untouched; the CRC, computed over the original bytes, no longer matches a masked telegram.
 */
export function maskIdentifiers(text: string): MaskedTelegram {
  let masked = 0;
  const lines = text.split("\n").map((line) => {
    if (!isIdentifier(line)) return line;
    masked++;
    return line.replace(GROUP_RE, (_, value: string) => `(${MASK_CHAR.repeat(value.length)})`);
  });
  return { text: lines.join("\n"), masked };
}
