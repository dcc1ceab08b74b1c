import { P1Error, preview } from "../shared/index.ts";

/** A complete unit found in the byte stream: a plaintext telegram ('/'..'!CRC') or an encrypted 0xDB frame. */
export type Frame =
  | { readonly kind: "telegram"; readonly bytes: Buffer }
  | { readonly kind: "encrypted"; readonly bytes: Buffer };

/** What the framer yields: a frame, or the reason a partial unit was dropped. */
export type FrameEvent =
  | { readonly ok: true; readonly frame: Frame }
  | { readonly ok: false; readonly error: P1Error };

/**
 * Largest telegram accepted. The largest legitimate telegram we can construct is under 5 KiB: DSMR 5.0 with
 * the 1024-character text message (2048 hex digits), a 10-entry power-failure log, four M-Bus channels and
 * all per-phase objects, or e-MUCS with its 13-month peak history. 16 KiB leaves room for vendor extras
 * while bounding what one noisy port can make us buffer.
 */
export const DEFAULT_MAX_TELEGRAM_BYTES = 16 * 1024;

const SLASH = 0x2f; // '/': first byte of every plaintext telegram
const BANG = 0x21; // '!': last byte covered by the CRC
// DLMS general-glo-ciphering APDU as Smarty and encrypted e-MUCS send it:
// DB, 08 (system title length), 8-byte system title, 82 (two length bytes follow), length (BE).
/** First byte of an encrypted frame: the DLMS general-glo-ciphering tag. */
export const GLO_CIPHERING_TAG = 0xdb;
const SYSTEM_TITLE_LENGTH = 0x08;
const LENGTH_TWO_BYTES = 0x82;
// Header bytes checked before trusting the length field: tag, title length, title, 0x82, length and the
// security byte 0x30 (authenticated + encrypted). A stray 0xDB 0x08 passes all of these by chance with
// odds of about 1 in 65,536, so a false start rarely swallows the real frame that follows it.
const ENCRYPTED_HEADER_BYTES = 14;
const ENCRYPTED_LENGTH_OFFSET = 13; // the length field counts from the security byte on
const SECURITY_AUTH_ENC = 0x30;
// A CRC is at most four hex digits; we read up to this many alphanumerics so a malformed field ("XXXX")
// reaches the parser and is reported rather than silently ignored.
const MAX_CRC_CHARS = 4;

type State = "idle" | "telegram" | "crc" | "encrypted";

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/**
 * Streaming framer: feed it chunks of any size, it yields complete frames. It skips garbage before a
 * '/' or 0xDB, restarts on a '/' inside a telegram (the earlier one was cut off: TRUNCATED) and drops
 * units over the size cap (TOO_LARGE). It never interprets values; CRC checking is the parser's job.
 * Pure: no I/O, no timers. A caller that knows the stream ended (end of file) calls `flush()`.
 */
export class TelegramFramer {
  readonly #maxBytes: number;
  #state: State = "idle";
  /**
   * Slices of the unit being assembled (the last one pending, see below); concatenated once when it
   * completes. One array, emptied for each unit: a new one per unit lived until the meter's next
   * telegram, long enough to be copied by the GC (issue 8, 5,000 meters).
   */
  readonly #parts: Buffer[] = [];
  #size = 0;
  #crcChars = 0;
  #encryptedTotal = 0;
  #skipped = 0;
  // The last slice appended, not yet cut out of its chunk: the telegram, then its CRC, widen it, and a
  // view costs about 100 ns, so it is cut once, when the unit completes or a slice of elsewhere follows.
  #lastChunk: Buffer | undefined;
  #lastStart = 0;
  #lastEnd = 0;
  // The encrypted frame being read started with bytes carried over from the previous frame's tail.
  #tentative = false;

  constructor(options: { readonly maxTelegramBytes?: number } = {}) {
    this.#maxBytes = options.maxTelegramBytes ?? DEFAULT_MAX_TELEGRAM_BYTES;
  }

  /** Bytes skipped as garbage between frames since the framer was created. */
  get skippedBytes(): number {
    return this.#skipped;
  }

  /** Whether a partial unit is buffered (a caller may flush it after a long silence). */
  get isPending(): boolean {
    return this.#state !== "idle";
  }

  /** Consumes one chunk; returns the frames (and drop reasons) completed by it, in stream order. */
  push(chunk: Uint8Array): FrameEvent[] {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: FrameEvent[] = [];
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case "idle":
          i = this.#seekStart(buf, i);
          break;
        case "telegram":
          i = this.#scanTelegram(buf, i, out);
          break;
        case "crc":
          i = this.#scanCrc(buf, i, out);
          break;
        case "encrypted":
          i = this.#scanEncrypted(buf, i, out);
          break;
      }
    }
    return out;
  }

  /**
   * End of stream: a telegram whose '!' has arrived is complete (files often lack the final line end);
   * anything else buffered is reported TRUNCATED.
   */
  flush(): FrameEvent[] {
    const out: FrameEvent[] = [];
    if (this.#state === "crc") this.#emit("telegram", out);
    else if (this.#tentative)
      this.#begin("idle"); // a carried-over tail that was only ciphertext
    else if (this.#state !== "idle") this.#drop("TRUNCATED", "stream ended inside a frame", out);
    return out;
  }

  #seekStart(buf: Buffer, from: number): number {
    for (let i = from; i < buf.length; i++) {
      const b = buf[i];
      if (b === SLASH) {
        this.#skipped += i - from;
        this.#begin("telegram");
        return i;
      }
      if (b === GLO_CIPHERING_TAG) {
        this.#skipped += i - from;
        this.#begin("encrypted");
        return i;
      }
    }
    this.#skipped += buf.length - from;
    return buf.length;
  }

  #begin(state: State): void {
    this.#state = state;
    this.#parts.length = 0;
    this.#lastChunk = undefined;
    this.#tentative = false;
    this.#size = 0;
    this.#crcChars = 0;
    this.#encryptedTotal = 0;
  }

  #append(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    // Contiguous with the previous slice of this same chunk (telegram, then its CRC): widen it rather
    // than concatenate later, so a telegram inside one chunk is never copied.
    if (this.#lastChunk !== buf || this.#lastEnd !== start) {
      this.#cutLast();
      this.#lastChunk = buf;
      this.#lastStart = start;
    }
    this.#lastEnd = end;
    this.#size += end - start;
  }

  /** The slices of the unit, the pending one cut out. */
  #allParts(): Buffer[] {
    this.#cutLast();
    return this.#parts;
  }

  #cutLast(): void {
    if (this.#lastChunk === undefined) return;
    this.#parts.push(this.#lastChunk.subarray(this.#lastStart, this.#lastEnd));
    this.#lastChunk = undefined;
  }

  #scanTelegram(buf: Buffer, from: number, out: FrameEvent[]): number {
    // The first byte of a fresh telegram is its own '/': search for a restart after it.
    const searchFrom = this.#size === 0 ? from + 1 : from;
    const bang = buf.indexOf(BANG, searchFrom);
    const slash = buf.indexOf(SLASH, searchFrom);
    const stop = bang === -1 ? buf.length : bang + 1;
    if (slash !== -1 && slash < stop) {
      // A new telegram starts before this one ended: the meter (or cable) cut it short.
      this.#append(buf, from, slash);
      this.#drop("TRUNCATED", "telegram interrupted by the start of the next one", out);
      this.#begin("telegram");
      return slash;
    }
    if (this.#size + (stop - from) > this.#maxBytes) {
      this.#drop("TOO_LARGE", `telegram exceeds ${this.#maxBytes} bytes without an end marker '!'`, out);
      return stop;
    }
    this.#append(buf, from, stop);
    if (bang !== -1) this.#state = "crc";
    return stop;
  }

  #scanCrc(buf: Buffer, from: number, out: FrameEvent[]): number {
    let i = from;
    while (i < buf.length && this.#crcChars < MAX_CRC_CHARS && isAlnum(buf[i] as number)) {
      i++;
      this.#crcChars++;
    }
    this.#append(buf, from, i);
    if (this.#crcChars === MAX_CRC_CHARS || i < buf.length) this.#emit("telegram", out);
    return i;
  }

  #scanEncrypted(buf: Buffer, from: number, out: FrameEvent[]): number {
    let i = from;
    if (this.#encryptedTotal === 0) {
      // Collect the fixed header first and validate it as soon as its bytes are in.
      const take = Math.min(ENCRYPTED_HEADER_BYTES - this.#size, buf.length - i);
      this.#append(buf, i, i + take);
      i += take;
      if (this.#size < 2) return i;
      // The header so far, read where it lies: a header inside one chunk stays the pending slice (the
      // body widens it, so a frame inside one chunk is never copied); one across chunks is joined.
      let header: Buffer;
      let at = 0;
      if (this.#parts.length === 0 && this.#lastChunk !== undefined) {
        header = this.#lastChunk;
        at = this.#lastStart;
      } else {
        const parts = this.#allParts();
        header = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.#size);
        this.#parts.length = 0;
        this.#parts.push(header);
      }
      if (header[at + 1] !== SYSTEM_TITLE_LENGTH) {
        // A lone 0xDB in noise is not a frame start: skip that byte and rescan what followed it
        // (at most 12 bytes) before continuing with the rest of this chunk.
        if (!this.#tentative) this.#skipped += 1;
        const rest = header.subarray(at + 1, at + this.#size);
        this.#begin("idle");
        out.push(...this.push(rest));
        return i;
      }
      if (this.#size < ENCRYPTED_HEADER_BYTES) return i;
      const total = ENCRYPTED_LENGTH_OFFSET + header.readUInt16BE(at + 11);
      let problem: P1Error | undefined;
      if (header[at + 10] !== LENGTH_TWO_BYTES || header[at + 13] !== SECURITY_AUTH_ENC) {
        problem = new P1Error(
          "FRAME_INVALID",
          `encrypted frame header: expected 0x82 and security byte 0x30, got ${hexByte(header[at + 10])} and ${hexByte(header[at + 13])}`,
          { bytes: ENCRYPTED_HEADER_BYTES },
        );
      } else if (total > this.#maxBytes) {
        problem = new P1Error(
          "TOO_LARGE",
          `encrypted frame declares ${total} bytes, over the ${this.#maxBytes}-byte cap`,
          { bytes: total },
        );
      }
      if (problem) {
        // Report it, then rescan from the byte after this 0xDB: a real frame may start inside these bytes.
        // A tentative header (carried over from a frame's tail) that fails was just ciphertext: silent.
        if (!this.#tentative) {
          out.push({ ok: false, error: problem });
          this.#skipped += 1;
        }
        const rest = header.subarray(at + 1, at + this.#size);
        this.#begin("idle");
        out.push(...this.push(rest));
        return i;
      }
      this.#encryptedTotal = total;
      this.#tentative = false;
    }
    const take = Math.min(this.#encryptedTotal - this.#size, buf.length - i);
    this.#append(buf, i, i + take);
    i += take;
    if (this.#size === this.#encryptedTotal) this.#emit("encrypted", out);
    return i;
  }

  #emit(kind: Frame["kind"], out: FrameEvent[]): void {
    const parts = this.#allParts();
    const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.#size);
    this.#begin("idle");
    const next = kind === "encrypted" ? nextFrameInside(bytes) : -1;
    if (next === -1) {
      out.push({ ok: true, frame: { kind, bytes } });
      // A frame that lost bytes on the line ends with the first bytes of the next frame's header. Try
      // them as the start of a frame; if the rest does not follow, they were ciphertext after all.
      const carry = kind === "encrypted" ? headerStartAtEnd(bytes) : -1;
      if (carry !== -1) {
        out.push(...this.push(bytes.subarray(carry)));
        if (this.#state === "encrypted") this.#tentative = true;
      }
      return;
    }
    // The frame was cut and the next one began inside it: report the cut one, rescan from the next.
    out.push({
      ok: false,
      error: new P1Error("TRUNCATED", "encrypted frame cut off by the start of the next one", {
        bytes: next,
      }),
    });
    out.push(...this.push(bytes.subarray(next)));
  }

  #drop(code: "TRUNCATED" | "TOO_LARGE" | "FRAME_INVALID", message: string, out: FrameEvent[]): void {
    const head = this.#allParts()[0];
    out.push({
      ok: false,
      error: new P1Error(code, message, { bytes: this.#size, start: head ? preview(head, 24) : "" }),
    });
    this.#begin("idle");
  }
}

/**
 * Offset of another frame's header inside a completed encrypted frame, or -1. A meter keeps its system
 * title, so a header is recognised by 0xDB 0x08, the same 8-byte title, 0x82 and the security byte 0x30:
 * 12 fixed bytes, which ciphertext matches by chance with odds of about 2^-96. A header cut by the end
 * of the frame counts when its tag and at least half of the title are there.
 */
function nextFrameInside(frame: Buffer): number {
  const title = frame.subarray(2, 10);
  for (let p = frame.indexOf(GLO_CIPHERING_TAG, 1); p !== -1; p = frame.indexOf(GLO_CIPHERING_TAG, p + 1)) {
    if (frame[p + 1] !== SYSTEM_TITLE_LENGTH) continue;
    const available = Math.min(8, frame.length - (p + 2));
    if (available < 4 || frame.compare(title, 0, available, p + 2, p + 2 + available) !== 0) continue;
    if (p + ENCRYPTED_HEADER_BYTES > frame.length) return p; // header runs past the end: the next frame
    if (frame[p + 10] === LENGTH_TWO_BYTES && frame[p + 13] === SECURITY_AUTH_ENC) return p;
  }
  return -1;
}

/**
 * Offset of a tail (at most 5 bytes, too short for `nextFrameInside`) that reads as the start of a header
 * with this frame's system title: 0xDB, then 0x08, then title bytes. -1 when there is none.
 */
function headerStartAtEnd(frame: Buffer): number {
  for (let p = Math.max(1, frame.length - 5); p < frame.length; p++) {
    if (frame[p] !== GLO_CIPHERING_TAG) continue;
    if (p + 1 < frame.length && frame[p + 1] !== SYSTEM_TITLE_LENGTH) continue;
    const titleBytes = Math.max(0, frame.length - (p + 2));
    if (titleBytes === 0 || frame.compare(frame, 2, 2 + titleBytes, p + 2, p + 2 + titleBytes) === 0)
      return p;
  }
  return -1;
}

function hexByte(b: number | undefined): string {
  return b === undefined ? "nothing" : `0x${b.toString(16).padStart(2, "0")}`;
}
