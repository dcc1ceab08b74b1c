import type { ErrorCode } from "../src/shared/index.ts";

/** Every fault the simulator can inject. */
export const FAULT_KINDS = [
  "crc",
  "truncate",
  "garbage",
  "drop",
  "chunk",
  "stall",
  "unplug",
  "wrongKey",
  "replay",
  "clockPast",
  "clockFuture",
  "mbusSwap",
] as const;

/** A fault the simulator can inject. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability per telegram (0..1) of each fault. */
export type FaultRates = Readonly<Partial<Record<FaultKind, number>>>;

/**
 * What a reader should observe for an injected fault: an error code from the decoder, `replay` for a
 * frame counter it flags, or null when the stream stays decodable (garbage, chunking, stalls, clock, swap).
 */
export type Expectation = ErrorCode | "replay" | null;

/** One injected fault. */
export interface Injection {
  /** Index of the telegram (0-based) the fault was applied to or before. */
  readonly telegram: number;
  readonly kind: FaultKind;
  readonly expect: Expectation;
  /** Bytes of noise added, for `garbage`. */
  readonly bytes?: number;
}

/** What the simulator injected: every injection in order, and counts per kind. */
export class InjectionLog {
  readonly entries: Injection[] = [];
  readonly counts: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;

  /** Records one injection. */
  add(entry: Injection): void {
    this.entries.push(entry);
    this.counts[entry.kind]++;
  }

  /** How many injections expect each decoder outcome. */
  expected(): Partial<Record<Exclude<Expectation, null>, number>> {
    const out: Partial<Record<Exclude<Expectation, null>, number>> = {};
    for (const e of this.entries) if (e.expect !== null) out[e.expect] = (out[e.expect] ?? 0) + 1;
    return out;
  }

  /** A JSON summary (for stderr or a log file). */
  toJSON(): { counts: Record<FaultKind, number>; entries: Injection[] } {
    return { counts: { ...this.counts }, entries: [...this.entries] };
  }
}
