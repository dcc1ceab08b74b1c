import { EventEmitter } from "node:events";
import { type Clock, P1Error, systemClock, type Timer } from "../shared/index.ts";
import type { Source, SourceEvents } from "./source.ts";

/** How a source waits between attempts to (re)open its link. */
export interface BackoffOptions {
  /** First delay after a failure or a link loss. */
  readonly initialMs?: number;
  /** Cap: a meter that comes back is noticed within this long. */
  readonly maxMs?: number;
  /** Each consecutive failure multiplies the delay by this. */
  readonly factor?: number;
  /** A link that stayed up this long counts as healthy: the next delay starts again at `initialMs`. */
  readonly resetAfterMs?: number;
  /** Time and timers (tests inject fake ones); also used by the source for its own timeouts. */
  readonly clock?: Clock;
}

/** Defaults: 0.5 s doubling to 30 s; a link up for 10 s (several telegrams at any version's interval) resets. */
export const DEFAULT_BACKOFF = {
  initialMs: 500,
  maxMs: 30_000,
  factor: 2,
  resetAfterMs: 10_000,
} as const satisfies BackoffOptions;

/** Capped exponential backoff with one pending retry timer. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #resetAfterMs: number;
  readonly #clock: Clock;
  #nextMs: number;
  #failures = 0;
  #openedAt: number | undefined;
  #timer: Timer | undefined;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.#factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.#resetAfterMs = options.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs;
    this.#clock = options.clock ?? systemClock;
    if (!(this.#initialMs > 0)) throw invalid("initialMs", "must be > 0", this.#initialMs);
    if (!(this.#maxMs >= this.#initialMs)) throw invalid("maxMs", "must be >= initialMs", this.#maxMs);
    if (!(this.#factor >= 1)) throw invalid("factor", "must be >= 1", this.#factor);
    if (!(this.#resetAfterMs >= 0)) throw invalid("resetAfterMs", "must be >= 0", this.#resetAfterMs);
    this.#nextMs = this.#initialMs;
  }

  /** The delay the next `schedule` will wait. */
  get nextDelayMs(): number {
    return this.#nextMs;
  }

  /** Retries scheduled since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether a retry is waiting. */
  get isScheduled(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Runs `retry` after the current delay, or after `capMs` when that is shorter (replacing any pending
   * retry), and grows the delay; returns the wait.
   */
  schedule(retry: () => void, capMs?: number): number {
    this.cancel();
    const ms = capMs === undefined ? this.#nextMs : Math.min(this.#nextMs, capMs);
    this.#failures++;
    this.#nextMs = Math.min(this.#maxMs, this.#nextMs * this.#factor);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      retry();
    }, ms);
    return ms;
  }

  /** Drops the pending retry, if any. */
  cancel(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The link came up: remember when, so `closed` can tell a healthy link from a flapping one. */
  opened(): void {
    this.#openedAt = this.#clock.now();
  }

  /** The link went down: a link that lasted `resetAfterMs` starts the delays over, a flapping one does not. */
  closed(): void {
    if (this.#openedAt !== undefined && this.#clock.now() - this.#openedAt >= this.#resetAfterMs)
      this.reset();
    this.#openedAt = undefined;
  }

  /** Back to the first delay (the pending retry, if any, keeps its time). */
  reset(): void {
    this.#nextMs = this.#initialMs;
    this.#failures = 0;
  }
}

function invalid(key: string, rule: string, value: number): P1Error {
  return new P1Error("CONFIG_INVALID", `reconnect.${key} ${rule}, got ${value}`, { key: `reconnect.${key}` });
}

/** Callbacks a link reports through; each call is ignored once the link was replaced or closed by us. */
export interface LinkSink {
  /** Bytes arrived. */
  data(chunk: Buffer): void;
  /** The link went down by itself (unplugged, peer closed, I/O error); call at most once. */
  lost(error: P1Error): void;
}

/** One open link (a serial port, a socket). */
export interface Link {
  /** Closes the handle and removes every listener it set; must not report `lost` afterwards. */
  close(): Promise<void>;
  /** Called once the source reported the link up: replays bytes the link read while it was being opened. */
  started?(): void;
}

/** Options every reconnecting source shares. */
export interface ReconnectingOptions {
  /**
   * Close and reopen a link that delivered no byte for this long (a dongle or cable that went silent
   * without an error); null (the default) never does.
   */
  readonly stallTimeoutMs?: number | null;
}

/**
 * A source whose link can fail and come back (serial, TCP): it opens the link, reopens it with a capped
 * exponential backoff until `stop()`, and reports a failing open once per distinct message so a meter that
 * is unplugged for hours does not flood the log with the same error.
 */
export abstract class ReconnectingSource extends EventEmitter<SourceEvents> implements Source {
  /** Where the bytes come from, without secrets. */
  abstract readonly description: string;
  /** The clock of this source (the backoff's): subclasses use it for their own timeouts. */
  protected readonly clock: Clock;
  readonly #backoff: Backoff;
  /** Bumped by every attempt and by `stop()`: callbacks of an older generation are stale and ignored. */
  #generation = 0;
  #running = false;
  #link: Link | undefined;
  #abort: AbortController | undefined;
  /** The attempt in flight, awaited by `stop()` so no handle outlives it. */
  #attempt: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Release of the last lost link, awaited by `stop()`. */
  #released: Promise<void> | undefined;
  #lastOpenError: string | undefined;
  #everOpened = false;
  #reconnects = 0;
  #openFailures = 0;
  readonly #stallTimeoutMs: number | null;
  #stallTimer: Timer | undefined;
  #lastDataAt = 0;

  protected constructor(backoff: BackoffOptions = {}, options: ReconnectingOptions = {}) {
    super();
    this.clock = backoff.clock ?? systemClock;
    this.#backoff = new Backoff(backoff);
    const stall = options.stallTimeoutMs ?? null;
    if (stall !== null && !(stall > 0))
      throw new P1Error("CONFIG_INVALID", `stallTimeoutMs must be > 0, got ${stall}`, {
        key: "stallTimeoutMs",
      });
    this.#stallTimeoutMs = stall;
  }

  /** Times the link came up again after it had been up once (after a loss or failed opens). */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Attempts to open the link that failed, reported or not. */
  get openFailures(): number {
    return this.#openFailures;
  }

  /** Whether the link is up now. */
  get isOpen(): boolean {
    return this.#link !== undefined;
  }

  /** Starts opening the link (and reopening it); idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#connect();
  }

  /** Stops reconnecting and closes the link; resolves once every handle and timer is gone; idempotent. */
  stop(): Promise<void> {
    if (!this.#running) return this.#stopping ?? Promise.resolve();
    this.#running = false;
    this.#generation++;
    this.#backoff.cancel();
    this.#clearStall();
    this.#abort?.abort();
    const link = this.#link;
    this.#link = undefined;
    const attempt = this.#attempt;
    const released = this.#released;
    this.#stopping = (async () => {
      await attempt;
      await released;
      await link?.close();
    })();
    return this.#stopping;
  }

  /**
   * Opens the link once. Resolves when it is up and reports through `sink` from then on; rejects when it
   * cannot be opened (any error: `describeError` turns it into the message users see). When `signal`
   * aborts, gives up and releases whatever it opened.
   */
  protected abstract openLink(sink: LinkSink, signal: AbortSignal): Promise<Link>;

  /** Turns an open failure into the error users see (actionable: what is wrong and what to do). */
  protected abstract describeError(error: unknown): P1Error;

  /**
   * The longest wait before the next attempt after `error` (an open failure or a lost link), or undefined
   * for the plain backoff. A serial port that vanished is checked for every second: looking for a device
   * is one cheap syscall, and a replugged cable must be read again at once, however long it was away.
   */
  protected retryCapMs(_error: P1Error): number | undefined {
    return undefined;
  }

  #connect(): void {
    const generation = ++this.#generation;
    const abort = new AbortController();
    this.#abort = abort;
    const current = () => generation === this.#generation && this.#running;
    let link: Link | undefined;
    let lostEarly: P1Error | undefined;
    let isLost = false;
    const sink: LinkSink = {
      data: (chunk) => {
        if (current() && link !== undefined && !isLost) {
          this.#lastDataAt = this.clock.now();
          this.emit("data", chunk);
        }
      },
      lost: (error) => {
        if (!current() || isLost) return; // a link is lost once, however many ways it reports it
        isLost = true;
        // Reported before openLink resolved: handled right after the open, so the order stays open, close.
        if (link === undefined) lostEarly = error;
        else this.#lost(link, error);
      },
    };
    const attempt: Promise<void> = this.openLink(sink, abort.signal)
      .then(
        async (opened) => {
          if (!current()) {
            await opened.close(); // stopped while opening: release it at once
            return;
          }
          link = opened;
          this.#opened(opened);
          if (lostEarly && current()) this.#lost(opened, lostEarly);
        },
        (e: unknown) => {
          if (current()) this.#failed(e);
        },
      )
      .finally(() => {
        if (this.#attempt === attempt) this.#attempt = undefined;
      });
    this.#attempt = attempt;
  }

  #opened(link: Link): void {
    this.#link = link;
    if (this.#everOpened) this.#reconnects++;
    this.#everOpened = true;
    this.#lastOpenError = undefined;
    this.#backoff.opened();
    this.#lastDataAt = this.clock.now();
    this.#armStall(link, this.#stallTimeoutMs);
    this.emit("open");
    link.started?.();
  }

  /** Checks for silence after `ms`; a timer per window, not per chunk, keeps the data path cheap. */
  #armStall(link: Link, ms: number | null): void {
    if (ms === null || this.#stallTimeoutMs === null) return;
    const limit = this.#stallTimeoutMs;
    this.#stallTimer = this.clock.setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#link !== link) return;
      const silentMs = this.clock.now() - this.#lastDataAt;
      if (silentMs < limit) {
        this.#armStall(link, limit - silentMs);
        return;
      }
      const seconds = Math.round(limit / 100) / 10;
      this.#lost(
        link,
        new P1Error("SOURCE_DISCONNECTED", `no data for ${seconds} s: reopening ${this.description}`, {
          source: this.description,
          stallTimeoutMs: limit,
        }),
      );
    }, ms);
  }

  #clearStall(): void {
    if (this.#stallTimer === undefined) return;
    this.clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #lost(link: Link, error: P1Error): void {
    // Already replaced (the watchdog closed it, then the handle reported its own close): report once.
    if (this.#link !== link) return;
    this.#clearStall();
    this.#link = undefined;
    // The handle closed itself; closing our side too removes the listeners, and stop() waits for it.
    this.#released = link.close();
    this.#backoff.closed();
    this.emit("close", error);
    this.#retry(error);
  }

  #failed(e: unknown): void {
    this.#openFailures++;
    const error = this.describeError(e);
    // Same message as last time: nothing changed, so say nothing and keep trying.
    if (error.message !== this.#lastOpenError) {
      this.#lastOpenError = error.message;
      this.emit("close", error);
    }
    this.#retry(error);
  }

  #retry(error: P1Error): void {
    if (this.#running) this.#backoff.schedule(() => this.#connect(), this.retryCapMs(error));
  }
}
