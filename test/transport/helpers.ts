import { tmpdir } from "node:os";
import { join } from "node:path";
import { openVirtualPort, type VirtualPort } from "../../simulator/index.ts";
import type { Clock, P1Error, Timer } from "../../src/shared/index.ts";
import type { Source } from "../../src/transport/index.ts";

// Captured at load, before any test installs fake timers: the bounded waits below must keep real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realNow = Date.now;

/** Every test in these files is bounded by this (a hang fails in seconds, not at vitest's 30 s default). */
export const TEST_TIMEOUT_MS = 10_000;

/** Resolves like `promise`, or rejects after `timeoutMs` naming `what`: no wait in these tests is unbounded. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 3_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = realSetTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => realClearTimeout(timer));
}

/** One event a source emitted, in order. */
export type SourceEvent =
  | { readonly kind: "open" }
  | { readonly kind: "close"; readonly error: P1Error | null }
  | { readonly kind: "data"; readonly bytes: Buffer }
  | { readonly kind: "end" };

/** Records every event of a source, in order, and waits (bounded) for the ones a test expects. */
export class EventLog {
  readonly events: SourceEvent[] = [];

  constructor(source: Source) {
    source.on("open", () => this.events.push({ kind: "open" }));
    source.on("close", (error) => this.events.push({ kind: "close", error }));
    source.on("data", (bytes) => this.events.push({ kind: "data", bytes: Buffer.from(bytes) }));
    source.on("end", () => this.events.push({ kind: "end" }));
  }

  /** Event kinds in order, data runs merged into one "data" (chunking is not what these tests check). */
  get kinds(): string[] {
    return this.events.map((e) => e.kind).filter((k, i, all) => k !== "data" || all[i - 1] !== "data");
  }

  /** The close errors, in order. */
  get closes(): (P1Error | null)[] {
    return this.events.flatMap((e) => (e.kind === "close" ? [e.error] : []));
  }

  /** Every data byte received, concatenated. */
  get bytes(): Buffer {
    return Buffer.concat(this.events.flatMap((e) => (e.kind === "data" ? [e.bytes] : [])));
  }

  /** Resolves once `count` events of `kind` were seen; rejects after `timeoutMs` naming what was seen. */
  waitFor(kind: SourceEvent["kind"], count = 1, timeoutMs = 3_000): Promise<void> {
    return this.until(
      () => this.events.filter((e) => e.kind === kind).length >= count,
      `${count}× ${kind}`,
      timeoutMs,
    );
  }

  /** Resolves once the received bytes contain `text`. */
  waitForBytes(text: string, timeoutMs = 3_000): Promise<void> {
    return this.until(() => this.bytes.includes(text), `bytes ${JSON.stringify(text)}`, timeoutMs);
  }

  /** Polls `ready` (every 5 ms) until true; rejects after `timeoutMs` with the events seen so far. */
  until(ready: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
    const started = realNow();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) resolve();
        else if (realNow() - started > timeoutMs)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${this.describe()}`));
        else realSetTimeout(check, 5);
      };
      check();
    });
  }

  /** Events as short text, for failure messages. */
  describe(): string {
    return this.events
      .map((e) => (e.kind === "close" ? `close(${e.error?.message ?? "null"})` : e.kind))
      .join(", ");
  }
}

/** A real clock that records what it was asked for: every delay requested and the timers still pending. */
export class RecordingClock implements Clock {
  readonly delays: number[] = [];
  readonly #pending = new Set<Timer>();

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.#pending.size;
  }

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    this.delays.push(ms);
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      fn();
    }, ms);
    this.#pending.add(timer);
    return timer;
  }

  clearTimeout(timer: Timer): void {
    this.#pending.delete(timer);
    clearTimeout(timer);
  }
}

/**
 * Per-file pty fixtures: `linkPath()` gives a fresh device path, `virtualPort(path)` opens a pty there and
 * `cleanups` (run by the file's afterEach via `runCleanups`) closes everything a test opened.
 */
export function ptyFixtures(prefix: string) {
  let seq = 0;
  const cleanups: (() => Promise<void>)[] = [];
  return {
    cleanups,
    linkPath: () => join(tmpdir(), `${prefix}-${process.pid}-${++seq}`),
    async virtualPort(path: string): Promise<VirtualPort> {
      const port = await openVirtualPort(path);
      cleanups.push(() => port.close());
      return port;
    },
    async runCleanups(): Promise<void> {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    },
  };
}
