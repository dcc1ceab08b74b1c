/**
 * CRC-16/ARC as DSMR 4+ specifies for the P1 telegram: polynomial x^16+x^15+x^2+1 (0x8005, reflected
 * 0xA001), initial value 0, LSB first, no final XOR, over every byte from '/' through '!'.
 */
const CRC16_TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-16/ARC of `bytes[start, end)`. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    // biome-ignore lint/style/noNonNullAssertion: index is masked to 0..255, the table has 256 entries
    crc = (crc >>> 8) ^ CRC16_TABLE[(crc ^ (bytes[i] as number)) & 0xff]!;
  }
  return crc;
}

/** The CRC as a meter writes it: four upper-case hex digits. */
export function formatCrc(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, "0");
}
