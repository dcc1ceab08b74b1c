import type { SerialSettings } from "./types.ts";

/** DSMR 4.0 and later, e-MUCS and Smarty: 115200 baud, 8 data bits, no parity, 1 stop bit. */
export const SERIAL_115200_8N1 = {
  baudRate: 115200,
  dataBits: 8,
  parity: "none",
  stopBits: 1,
} as const satisfies SerialSettings;
/** NTA 8130, DSMR 2.x and 3.0: 9600 baud, 7 data bits, even parity, 1 stop bit. */
export const SERIAL_9600_7E1 = {
  baudRate: 9600,
  dataBits: 7,
  parity: "even",
  stopBits: 1,
} as const satisfies SerialSettings;
/** Seen on some DSMR 4 meters despite the spec. */
export const SERIAL_115200_7E1 = {
  baudRate: 115200,
  dataBits: 7,
  parity: "even",
  stopBits: 1,
} as const satisfies SerialSettings;

/** Order in which automatic detection tries the settings: the most common first. */
export const SERIAL_CANDIDATES: readonly SerialSettings[] = [
  SERIAL_115200_8N1,
  SERIAL_9600_7E1,
  SERIAL_115200_7E1,
];

/** `115200 8N1` style label. */
export function formatSerial(s: SerialSettings): string {
  return `${s.baudRate} ${s.dataBits}${s.parity === "none" ? "N" : "E"}${s.stopBits}`;
}
