const HEX_RE = /^[0-9A-Fa-f]*$/;

/** Parses a hex string (even length, no separators) into bytes; undefined when it is not hex. */
export function hexToBytes(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !HEX_RE.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** A short, printable preview of raw bytes for error messages (never the whole input). */
export function preview(bytes: Uint8Array | string, max = 40): string {
  const text = typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("latin1");
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}
