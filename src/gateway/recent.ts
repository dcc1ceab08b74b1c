import { GLO_CIPHERING_TAG, maskIdentifiers } from "../dsmr/index.ts";
import type { ErrorCode } from "../shared/index.ts";
import { maskedFrameHeader } from "../smarty/index.ts";
import type { DiagnosticTelegram } from "./types.ts";

/** Telegrams kept per source for diagnostics by default. */
export const DEFAULT_RECENT_TELEGRAMS = 10;

/**
 * One slot of the ring: a telegram or frame as it arrived, kept unmasked until someone asks (masking
 * costs; asking is rare). The bytes are copied into the slot's own buffers, reused by the slot's next
 * telegram: a slice would pin whatever larger buffer the bytes came in, and a new copy per telegram
 * would live until the ring comes round (long enough for the GC to promote it: at thousands of meters,
 * megabytes a second of old-generation garbage).
 */
interface Slot {
  receivedAtMs: number;
  outcome: "OK" | ErrorCode;
  raw: Kept;
  plaintext: Kept;
}

/** Bytes kept in a reusable buffer: `length` of them, or none (-1). */
interface Kept {
  buffer: Buffer | null;
  length: number;
}

/** Room left for the next telegram of a meter, which is seldom exactly as long. */
const SLACK_BYTES = 256;

function keep(into: Kept, bytes: Buffer | null): void {
  if (bytes === null) {
    into.length = -1;
    return;
  }
  if (into.buffer === null || into.buffer.length < bytes.length)
    into.buffer = Buffer.allocUnsafeSlow(bytes.length + SLACK_BYTES); // unpooled: pins nothing else
  bytes.copy(into.buffer);
  into.length = bytes.length;
}

function kept(k: Kept): Buffer | null {
  return k.length < 0 || k.buffer === null ? null : k.buffer.subarray(0, k.length);
}

/** Bytes as text: CR, LF and printable ASCII as is, anything else as \xNN (garbage stays readable). */
function printable(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) {
    out +=
      b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f)
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/**
 * The last `capacity` telegrams of one source, delivered or dropped, for the diagnostics bundle. A ring:
 * memory is bounded by capacity × the framer's size cap (16 KiB), whatever the meter sends.
 */
export class RecentTelegrams {
  readonly #capacity: number;
  readonly #ring: Slot[] = [];
  #next = 0;

  constructor(capacity = DEFAULT_RECENT_TELEGRAMS) {
    this.#capacity = Math.max(0, Math.floor(capacity));
  }

  /** Keeps one telegram (the oldest kept goes when full). */
  add(receivedAtMs: number, outcome: "OK" | ErrorCode, raw: Buffer | null, plaintext: Buffer | null): void {
    if (this.#capacity === 0) return;
    let slot = this.#ring[this.#next];
    if (slot === undefined) {
      slot = {
        receivedAtMs,
        outcome,
        raw: { buffer: null, length: -1 },
        plaintext: { buffer: null, length: -1 },
      };
      this.#ring.push(slot);
    }
    slot.receivedAtMs = receivedAtMs;
    slot.outcome = outcome;
    keep(slot.raw, raw);
    keep(slot.plaintext, plaintext);
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** The kept telegrams, oldest first, identifiers masked. */
  list(sourceId: string): DiagnosticTelegram[] {
    const ordered =
      this.#ring.length < this.#capacity
        ? this.#ring
        : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.map((k) => {
      const raw = kept(k.raw);
      const plaintext = kept(k.plaintext);
      const encrypted = raw !== null && raw[0] === GLO_CIPHERING_TAG;
      const telegram = encrypted ? plaintext : raw;
      const masked = telegram === null ? null : maskIdentifiers(printable(telegram));
      return {
        sourceId,
        receivedAtMs: k.receivedAtMs,
        outcome: k.outcome,
        encrypted,
        text: masked?.text ?? null,
        frameHeader: encrypted && raw !== null ? maskedFrameHeader(raw) : null,
        bytes: raw?.length ?? 0,
        maskedValues: masked?.masked ?? 0,
      };
    });
  }
}
