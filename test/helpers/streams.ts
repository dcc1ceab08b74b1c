import fc from "fast-check";

/** Splits `bytes` at the given cut points (taken modulo its length + 1), keeping every byte once, in order. */
export function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** Ways a line or cable damages a byte stream (property tests and the fuzzer draw from these). */
export const EDIT_KINDS = ["insert", "delete", "flip", "truncate", "deleteCr", "duplicate"] as const;

/** One damage at a position: `bytes` are inserted (insert), or their length is what is deleted (delete). */
export type Edit = readonly [at: number, kind: number, bytes: Uint8Array];

/** Arbitrary edits using the first `kinds` of EDIT_KINDS (the older properties use the first four). */
export function editsArb(
  kinds: number = EDIT_KINDS.length,
  maxEdits = 6,
  maxBytes = 20,
): fc.Arbitrary<Edit[]> {
  return fc.array(
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: kinds - 1 }), fc.uint8Array({ maxLength: maxBytes })),
    { maxLength: maxEdits },
  );
}

/** Applies edits in order to a copy of `bytes`; positions are taken modulo the current length + 1. */
export function applyEdits(bytes: Buffer, edits: readonly Edit[]): Buffer {
  let out = Buffer.from(bytes);
  for (const [at, kind, bytes] of edits) {
    const p = at % (out.length + 1);
    switch (EDIT_KINDS[kind]) {
      case "insert":
        out = Buffer.concat([out.subarray(0, p), Buffer.from(bytes), out.subarray(p)]);
        break;
      case "delete":
        out = Buffer.concat([out.subarray(0, p), out.subarray(p + bytes.length)]);
        break;
      case "flip":
        if (p < out.length) out[p] = (out[p] as number) ^ (1 << ((bytes[0] ?? 4) % 8));
        break;
      case "truncate":
        out = out.subarray(0, p);
        break;
      case "deleteCr": {
        // A CR lost on the line (or a converter that strips them): the next CR at or after p.
        const cr = out.indexOf(0x0d, p);
        if (cr !== -1) out = Buffer.concat([out.subarray(0, cr), out.subarray(cr + 1)]);
        break;
      }
      case "duplicate":
        // A repeated stretch, as a flaky converter resending its buffer produces.
        out = Buffer.concat([out.subarray(0, p), out.subarray(p, p + bytes.length * 8), out.subarray(p)]);
        break;
    }
  }
  return out;
}
