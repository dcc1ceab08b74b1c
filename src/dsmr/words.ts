/**
 * A telegram's bytes copied into an aligned buffer, so two telegrams of one length compare eight bytes
 * per step (what the parser does to find the few 4-byte words a meter's next telegram changes).
 */
export class WordBytes {
  bytes = new Uint8Array(0);
  words = new Int32Array(0);
  /** The same bytes eight at a time, for comparing (see differingWords). */
  pairs = new Float64Array(0);
  /** Bytes held, from the start of `bytes`. */
  length = 0;

  /**
   * Holds `source[0, length)`. The rest of the last 8 bytes is zeroed: bytes past `length` never make
   * two words differ (a difference there would only cost time, never change a result).
   */
  fill(source: Uint8Array, length: number): void {
    const end = 8 * ((length + 7) >>> 3);
    // The CRC and line end after '!' are copied along rather than cut off: a view costs more than them.
    const copied = source.length - length <= 16 ? source : source.subarray(0, length);
    const need = Math.max(end, copied.length);
    // Sized to the telegram with a little slack for the next; the parser passes buffers from stream to
    // stream, so one much larger than needed (another meter's) is not kept either.
    if (need > this.bytes.length || this.bytes.length > 2 * need + 512) {
      this.pairs = new Float64Array((need >>> 3) + 8);
      this.words = new Int32Array(this.pairs.buffer);
      this.bytes = new Uint8Array(this.pairs.buffer);
    }
    const bytes = this.bytes;
    bytes.set(copied);
    for (let i = length; i < end; i++) bytes[i] = 0;
    this.length = length;
  }
}

/**
 * Indexes of the words in which `a` and `b` (of equal length) differ, ascending, into `out`; returns how
 * many, or -1 when there are more than `out` holds.
 */
export function differingWords(a: WordBytes, b: WordBytes, out: Int32Array): number {
  const x = a.pairs;
  const y = b.pairs;
  const xw = a.words;
  const yw = b.words;
  const n = (a.length + 7) >>> 3;
  const room = out.length;
  let count = 0;
  // Eight bytes per step, as doubles: equal doubles have equal bits but for 0 and -0 (checked by
  // their words); NaNs never compare equal, so they only cost the word comparison.
  for (let p = 0; p < n; p++) {
    const v = x[p] as number;
    if (v === y[p] && v !== 0) continue;
    for (let w = 2 * p; w < 2 * p + 2; w++) {
      if (xw[w] !== yw[w]) {
        if (count === room) return -1;
        out[count++] = w;
      }
    }
  }
  return count;
}
