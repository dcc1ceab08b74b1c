import { P1Error } from "../../shared/index.ts";

/** One API message as carried by a frame: its id (messages.ts) and protobuf payload. */
export interface RawMessage {
  readonly type: number;
  readonly payload: Buffer;
}

/** What a frame helper made of received bytes: whole messages, plus bytes it must send back. */
export type FeedResult =
  | { readonly ok: true; readonly messages: readonly RawMessage[]; readonly replies: readonly Buffer[] }
  | { readonly ok: false; readonly error: P1Error; readonly replies: readonly Buffer[] };

/**
 * One connection's framing (plaintext or Noise): parses received bytes incrementally and frames
 * outgoing messages. A failed feed is final: the connection is closed after sending `replies`.
 */
export interface FrameCodec {
  /** True once messages can be sent (plaintext: at once; Noise: after the handshake). */
  readonly ready: boolean;
  feed(chunk: Buffer): FeedResult;
  encode(type: number, payload: Uint8Array): Buffer;
}

/** Plaintext frame preamble (§1.1). */
export const PLAINTEXT_PREAMBLE = 0x00;
/** aioesphomeapi refuses varints longer than 4 bytes in the frame header (§1.1). */
export const MAX_VARINT_BYTES = 4;
/** aioesphomeapi refuses payloads over 65 535 bytes (§1.1); the Noise size field has the same cap. */
export const MAX_PAYLOAD_BYTES = 65_535;

type VarintRead = { readonly value: number; readonly next: number } | "more" | "too_long";

/** Reads a protobuf varint of at most MAX_VARINT_BYTES from `buf` at `offset`. */
export function readVarint(buf: Uint8Array, offset: number): VarintRead {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const byte = buf[offset + i];
    if (byte === undefined) return "more";
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
  }
  // Four bytes read, each with its continuation bit set.
  return "too_long";
}

/** Encodes a non-negative integer below 2^28 as a protobuf varint. */
export function encodeVarint(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** (7 * MAX_VARINT_BYTES)) {
    throw new RangeError(`varint out of range: ${value}`);
  }
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Frames one message for the plaintext protocol: 0x00, varint payload length, varint type, payload. */
export function encodePlaintextFrame(type: number, payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new P1Error(
      "TOO_LARGE",
      `message ${type} is ${payload.length} bytes, the cap is ${MAX_PAYLOAD_BYTES}`,
    );
  }
  return Buffer.concat([
    Buffer.from([PLAINTEXT_PREAMBLE]),
    encodeVarint(payload.length),
    encodeVarint(type),
    payload,
  ]);
}

function hexHead(buf: Uint8Array): string {
  return Buffer.from(buf.subarray(0, 8)).toString("hex");
}

/**
 * Incremental plaintext frame parser (§1.1). Holds at most one incomplete frame: the header is
 * checked as soon as its bytes are there, so the buffer never exceeds 1 + 2·4 + MAX_PAYLOAD_BYTES.
 */
export class PlaintextCodec implements FrameCodec {
  readonly ready = true;
  #pending: Buffer = Buffer.alloc(0);
  #failed = false;

  feed(chunk: Buffer): FeedResult {
    if (this.#failed) return this.#fail("bytes after a framing error");
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const messages: RawMessage[] = [];
    let pos = 0;
    const buf = this.#pending;
    while (pos < buf.length) {
      if (buf[pos] !== PLAINTEXT_PREAMBLE) {
        const what =
          buf[pos] === 0x01 ? "a Noise frame (client uses encryption)" : `0x${hexHead(buf.subarray(pos))}`;
        return this.#fail(`expected plaintext preamble 0x00, got ${what}`);
      }
      const length = readVarint(buf, pos + 1);
      if (length === "more") break;
      if (length === "too_long")
        return this.#fail(`payload length varint longer than ${MAX_VARINT_BYTES} bytes`);
      if (length.value > MAX_PAYLOAD_BYTES) {
        return this.#fail(`payload of ${length.value} bytes, the cap is ${MAX_PAYLOAD_BYTES}`, "TOO_LARGE");
      }
      const type = readVarint(buf, length.next);
      if (type === "more") break;
      if (type === "too_long") return this.#fail(`message type varint longer than ${MAX_VARINT_BYTES} bytes`);
      const end = type.next + length.value;
      if (end > buf.length) break;
      messages.push({ type: type.value, payload: Buffer.from(buf.subarray(type.next, end)) });
      pos = end;
    }
    this.#pending = pos === 0 ? buf : Buffer.from(buf.subarray(pos));
    return { ok: true, messages, replies: [] };
  }

  encode(type: number, payload: Uint8Array): Buffer {
    return encodePlaintextFrame(type, payload);
  }

  #fail(message: string, code: "FRAME_INVALID" | "TOO_LARGE" = "FRAME_INVALID"): FeedResult {
    this.#failed = true;
    this.#pending = Buffer.alloc(0);
    return { ok: false, error: new P1Error(code, message), replies: [] };
  }
}
