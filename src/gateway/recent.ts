import { GLO_CIPHERING_TAG, maskIdentifiers } from "../dsmr/index.ts";
import type { ErrorCode } from "../shared/index.ts";
import { maskedFrameHeader } from "../smarty/index.ts";
import type { DiagnosticTelegram } from "./types.ts";

/** Telegrams kept per source for diagnostics by default. */
export const DEFAULT_RECENT_TELEGRAMS = 10;

/** One telegram or frame as it arrived, kept unmasked until someone asks (masking costs; asking is rare). */
interface Kept {
  readonly receivedAtMs: number;
  readonly outcome: "OK" | ErrorCode;
  readonly raw: Buffer | null;
  readonly plaintext: Buffer | null;
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
  readonly #ring: Kept[] = [];
  #next = 0;

  constructor(capacity = DEFAULT_RECENT_TELEGRAMS) {
    this.#capacity = Math.max(0, Math.floor(capacity));
  }

  /** Keeps one telegram (the oldest kept goes when full). */
  add(receivedAtMs: number, outcome: "OK" | ErrorCode, raw: Buffer | null, plaintext: Buffer | null): void {
    if (this.#capacity === 0) return;
    // Copies: a slice would pin whatever larger buffer the bytes came in.
    const kept: Kept = {
      receivedAtMs,
      outcome,
      raw: raw === null ? null : Buffer.from(raw),
      plaintext: plaintext === null ? null : Buffer.from(plaintext),
    };
    if (this.#ring.length < this.#capacity) this.#ring.push(kept);
    else this.#ring[this.#next] = kept;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** The kept telegrams, oldest first, identifiers masked. */
  list(sourceId: string): DiagnosticTelegram[] {
    const ordered =
      this.#ring.length < this.#capacity
        ? this.#ring
        : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.map((k) => {
      const encrypted = k.raw !== null && k.raw[0] === GLO_CIPHERING_TAG;
      const telegram = encrypted ? k.plaintext : k.raw;
      const masked = telegram === null ? null : maskIdentifiers(printable(telegram));
      return {
        sourceId,
        receivedAtMs: k.receivedAtMs,
        outcome: k.outcome,
        encrypted,
        text: masked?.text ?? null,
        frameHeader: encrypted && k.raw !== null ? maskedFrameHeader(k.raw) : null,
        bytes: k.raw?.length ?? 0,
        maskedValues: masked?.masked ?? 0,
      };
    });
  }
}
