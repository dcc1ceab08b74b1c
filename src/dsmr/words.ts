/**
 * A telegram's bytes copied into a word-aligned buffer, so two telegrams of one length compare four
 * bytes per step (what the parser does to find the few words a meter's next telegram changes).
 */
export class WordBytes {
  bytes = new Uint8Array(0);
  words = new Int32Array(0);
  /** Bytes held, from the start of `bytes`. */
  length = 0;

  /**
   * Holds `source[0, length)`. The rest of the last word is zeroed: bytes past `length` never make two
   * words differ (a difference there would only cost time, never change a result).
   */
  fill(source: Uint8Array, length: number): void {
    const end = 4 * ((length + 3) >>> 2);
    // The CRC and line end after '!' are copied along rather than cut off: a view costs more than them.
    const copied = source.length - length <= 16 ? source : source.subarray(0, length);
    if (Math.max(end, copied.length) > this.bytes.length) {
      // Grown to the largest telegram seen (the framer caps telegrams); a little slack for the next.
      this.words = new Int32Array((Math.max(end, copied.length) >>> 2) + 16);
      this.bytes = new Uint8Array(this.words.buffer);
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
  const x = a.words;
  const y = b.words;
  const n = (a.length + 3) >>> 2;
  const room = out.length;
  let count = 0;
  for (let w = 0; w < n; w++) {
    if (x[w] !== y[w]) {
      if (count === room) return -1;
      out[count++] = w;
    }
  }
  return count;
}
