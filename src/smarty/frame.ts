import { P1Error } from "../shared/index.ts";

/** The parts of a DLMS general-glo-ciphering frame (Smarty, encrypted e-MUCS). */
export interface EncryptedFrame {
  /** 8 bytes: manufacturer code and serial; the first half of the GCM IV. */
  readonly systemTitle: Buffer;
  /** Security control byte; 0x30 = authenticated and encrypted. */
  readonly securityByte: number;
  /** Invocation counter; the second half of the IV, increases with every frame. */
  readonly frameCounter: number;
  readonly ciphertext: Buffer;
  /** 12-byte GCM tag (DLMS truncates the 16-byte tag). */
  readonly tag: Buffer;
}

// Layout (Smarty P1 1.1 §3.1, DLMS Green Book 9.2.7): DB | 08 | system title (8) | 82 | length (2, BE) |
// security byte (1) | frame counter (4, BE) | ciphertext | tag (12). Length counts from the security byte.
const TAG = 0xdb;
const SYSTEM_TITLE_LENGTH = 8;
const HEADER_BYTES = 13;
const SECURITY_BYTES = 5;
export const GCM_TAG_BYTES = 12;
/** Security control byte for "authenticated and encrypted" (the only mode meters use on P1). */
export const SECURITY_AUTH_ENC = 0x30;

// A module-level function, not a closure per call: tsx (keepNames) wraps every closure it creates in
// a naming helper, which cost the bench ~3% of its time here.
function invalidFrame(buf: Buffer, message: string): { ok: false; error: P1Error } {
  return { ok: false, error: new P1Error("FRAME_INVALID", message, { bytes: buf.length }) };
}

/** Splits an encrypted frame into its parts; FRAME_INVALID when the layout does not hold. */
export function parseEncryptedFrame(
  bytes: Uint8Array,
): { ok: true; frame: EncryptedFrame } | { ok: false; error: P1Error } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_BYTES + SECURITY_BYTES + GCM_TAG_BYTES)
    return invalidFrame(buf, `encrypted frame too short (${buf.length} bytes)`);
  if (buf[0] !== TAG || buf[1] !== SYSTEM_TITLE_LENGTH || buf[10] !== 0x82) {
    return invalidFrame(buf, "not a general-glo-ciphering frame (expected DB 08 … 82)");
  }
  const length = buf.readUInt16BE(11);
  if (length !== buf.length - HEADER_BYTES) {
    return invalidFrame(
      buf,
      `frame length field says ${length} bytes after the header, ${buf.length - HEADER_BYTES} present`,
    );
  }
  const securityByte = buf[13] as number;
  if (securityByte !== SECURITY_AUTH_ENC) {
    return invalidFrame(
      buf,
      `security byte 0x${securityByte.toString(16)} is not 0x30 (authenticated and encrypted)`,
    );
  }
  return {
    ok: true,
    frame: {
      systemTitle: buf.subarray(2, 10),
      securityByte,
      frameCounter: buf.readUInt32BE(14),
      ciphertext: buf.subarray(18, buf.length - GCM_TAG_BYTES),
      tag: buf.subarray(buf.length - GCM_TAG_BYTES),
    },
  };
}

/**
 * The frame's header as hex (tag, system title, length, security byte, frame counter) with the system
 * title, which names the meter (manufacturer and serial), replaced by X; for diagnostics. Shorter
 * frames give what they have.
 */
export function maskedFrameHeader(bytes: Uint8Array): string {
  const header = Buffer.from(bytes.subarray(0, HEADER_BYTES + SECURITY_BYTES))
    .toString("hex")
    .toUpperCase();
  const [from, to] = [2 * 2, 2 * (2 + SYSTEM_TITLE_LENGTH)];
  return (
    header.slice(0, from) + "X".repeat(Math.max(0, Math.min(header.length, to) - from)) + header.slice(to)
  );
}
