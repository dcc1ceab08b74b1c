/**
 * CRC-16/ARC as DSMR 4+ specifies for the P1 telegram: polynomial x^16+x^15+x^2+1 (0x8005, reflected
 * 0xA001), initial value 0, LSB first, no final XOR, over every byte from '/' through '!'.
 * Table-driven, four bytes per step ("slicing by 4"): the CRC runs over every byte of every telegram.
 */
const TABLES: readonly Uint16Array[] = (() => {
  const t0 = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t0[n] = c;
  }
  const tables = [t0];
  for (let k = 1; k < 4; k++) {
    const prev = tables[k - 1] as Uint16Array;
    const t = new Uint16Array(256);
    for (let n = 0; n < 256; n++)
      t[n] = ((prev[n] as number) >>> 8) ^ (t0[(prev[n] as number) & 0xff] as number);
    tables.push(t);
  }
  return tables;
})();
const [T0, T1, T2, T3] = TABLES as [Uint16Array, Uint16Array, Uint16Array, Uint16Array];

/** CRC-16/ARC of `bytes[start, end)`. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    crc ^= (bytes[i] as number) | ((bytes[i + 1] as number) << 8);
    crc =
      (T3[crc & 0xff] as number) ^
      (T2[crc >>> 8] as number) ^
      (T1[bytes[i + 2] as number] as number) ^
      (T0[bytes[i + 3] as number] as number);
  }
  for (; i < end; i++) crc = (crc >>> 8) ^ (T0[(crc ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

/** The CRC as a meter writes it: four upper-case hex digits. */
export function formatCrc(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

// CRC-16/ARC has no initial value and no final XOR, so it is linear: for two messages of one length,
// crc(a) ^ crc(b) = crc(a ^ b). A telegram that repeats the one before but for a few words has the CRC
// of the one before XOR the CRC of their difference, which is zero but for those words: work in
// proportion to what changed. Zero bytes leave a zero register zero; n zero bytes after a non-zero
// register multiply it by x^(8n) modulo the polynomial (zlib's crc32_combine does the same).

/** a * b mod P, both in the register's reflected bit order (bit 15 is x^0). */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  let power = b;
  for (let bit = 0x8000; bit !== 0; bit >>>= 1) {
    if (a & bit) product ^= power;
    power = power & 1 ? (power >>> 1) ^ 0xa001 : power >>> 1;
  }
  return product;
}

// Running a register through 2^k zero bytes is a linear map of its 16 bits: two 256-entry tables per k
// (low byte, high byte) apply it in two lookups, and n zero bytes take one map per set bit of n.
// Grown on demand; a telegram of 2^k bytes or more needs k + 1 of them.
let zeroTables = new Uint16Array(0);

function zeroTablesFor(maps: number): Uint16Array {
  if (zeroTables.length < maps * 512) {
    const grown = new Uint16Array(maps * 512);
    let power = 0x8000; // x^0
    for (let k = 0; k < maps; k++) {
      if (k === 0)
        for (let z = 0; z < 8; z++) power = multiplyModP(power, 0x4000); // x^8: one zero byte
      else power = multiplyModP(power, power); // x^(8 * 2^k)
      for (let v = 0; v < 256; v++) {
        grown[k * 512 + v] = multiplyModP(v, power);
        grown[k * 512 + 256 + v] = multiplyModP(v << 8, power);
      }
    }
    zeroTables = grown;
  }
  return zeroTables;
}

/** The register after `n` zero bytes. */
function afterZeroBytes(crc: number, n: number): number {
  if (crc === 0 || n === 0) return crc;
  let c = crc;
  if (n < 4) {
    for (let k = 0; k < n; k++) c = (c >>> 8) ^ (T0[c & 0xff] as number);
    return c;
  }
  const tables = zeroTablesFor(32 - Math.clz32(n));
  for (let k = 0, rest = n; rest !== 0; k++, rest >>>= 1)
    if (rest & 1)
      c = (tables[k * 512 + (c & 0xff)] as number) ^ (tables[k * 512 + 256 + (c >>> 8)] as number);
  return c;
}

/**
 * CRC-16/ARC of `now[0, length)` from `crcBefore`, the CRC of `before[0, length)`, where the two differ
 * only in the 4-byte words listed (ascending) in `words[0, count)`: word w is bytes [4w, 4w + 4).
 * Equal to crc16(now, 0, length) whenever every differing word is listed (a word listed that does not
 * differ costs time only).
 */
export function crc16Update(
  crcBefore: number,
  before: Uint8Array,
  now: Uint8Array,
  words: Int32Array,
  count: number,
  length: number,
): number {
  let crc = 0; // CRC of (before ^ now)[0, done)
  let done = 0;
  for (let k = 0; k < count; k++) {
    const from = 4 * (words[k] as number);
    const to = Math.min(from + 4, length);
    crc = afterZeroBytes(crc, from - done);
    for (let i = from; i < to; i++)
      crc = (crc >>> 8) ^ (T0[(crc ^ (before[i] as number) ^ (now[i] as number)) & 0xff] as number);
    done = to;
  }
  return crcBefore ^ afterZeroBytes(crc, length - done);
}
