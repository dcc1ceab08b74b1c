import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isP1Error, P1Error } from "../../src/shared/index.ts";
import {
  Backoff,
  DEFAULT_BACKOFF,
  type Link,
  type LinkSink,
  ReconnectingSource,
} from "../../src/transport/index.ts";
import { EventLog, TEST_TIMEOUT_MS } from "./helpers.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Delays a backoff waits through `n` consecutive failures (each retry fired by advancing fake time exactly). */
function delays(backoff: Backoff, n: number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    let fired = false;
    const ms = backoff.schedule(() => {
      fired = true;
    });
    vi.advanceTimersByTime(ms - 1);
    expect(fired).toBe(false);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(true);
    seen.push(ms);
  }
  return seen;
}

describe("Backoff", { timeout: TEST_TIMEOUT_MS }, () => {
  it("waits 0.5 s, doubling up to a 30 s cap", () => {
    expect(delays(new Backoff(), 10)).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  it("starts over after a link that stayed up resetAfterMs, not after a flapping one", () => {
    const backoff = new Backoff();
    delays(backoff, 3);
    backoff.opened();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.resetAfterMs - 1);
    backoff.closed();
    expect(backoff.nextDelayMs).toBe(4_000); // flapping: keeps backing off
    backoff.opened();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.resetAfterMs);
    backoff.closed();
    expect(backoff.nextDelayMs).toBe(500);
    expect(backoff.failures).toBe(0);
  });

  it("a cap shortens one wait without stopping the growth behind it", () => {
    const backoff = new Backoff();
    expect([1, 2, 3, 4].map(() => backoff.schedule(() => {}, 1_000))).toEqual([500, 1_000, 1_000, 1_000]);
    expect(backoff.schedule(() => {})).toBe(8_000);
    backoff.cancel();
  });

  it("keeps one pending retry; cancel clears it", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 400 });
    const retry = vi.fn();
    backoff.schedule(retry);
    backoff.schedule(retry);
    expect(vi.getTimerCount()).toBe(1);
    expect(backoff.isScheduled).toBe(true);
    backoff.cancel();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(retry).not.toHaveBeenCalled();
  });

  it.each([
    [{ initialMs: 0 }, "reconnect.initialMs"],
    [{ initialMs: 100, maxMs: 50 }, "reconnect.maxMs"],
    [{ factor: 0.5 }, "reconnect.factor"],
    [{ resetAfterMs: -1 }, "reconnect.resetAfterMs"],
  ])("rejects %o naming the key", (options, key) => {
    let error: unknown;
    try {
      new Backoff(options);
    } catch (e) {
      error = e;
    }
    expect(isP1Error(error, "CONFIG_INVALID")).toBe(true);
    expect((error as P1Error).context?.key).toBe(key);
  });
});

/** What the next openLink call does: fail with an error, or succeed. */
type Step = { readonly fail: Error } | { readonly succeed: true };

/** A ReconnectingSource whose opens follow a script: tests the loop itself, without devices. */
class ScriptedSource extends ReconnectingSource {
  readonly description = "scripted";
  readonly script: Step[] = [];
  sink: LinkSink | undefined;
  linksOpen = 0;

  constructor() {
    super({ initialMs: 100, maxMs: 800, resetAfterMs: 1_000 });
  }

  protected describeError(error: unknown): P1Error {
    return new P1Error("SOURCE_DISCONNECTED", (error as Error).message);
  }

  protected async openLink(sink: LinkSink): Promise<Link> {
    const step = this.script.shift() ?? { succeed: true };
    if ("fail" in step) throw step.fail;
    this.sink = sink;
    this.linksOpen++;
    let closed = false;
    return {
      close: async () => {
        if (!closed) this.linksOpen--;
        closed = true;
      },
    };
  }
}

describe("ReconnectingSource", { timeout: TEST_TIMEOUT_MS }, () => {
  it("reports an open error once per distinct message and keeps retrying silently", async () => {
    const source = new ScriptedSource();
    const log = new EventLog(source);
    const missing = new Error("no such device /dev/ttyUSB0, is the cable plugged in?");
    const denied = new Error("permission denied opening /dev/ttyUSB0");
    source.script.push(
      { fail: missing },
      { fail: missing },
      { fail: missing },
      { fail: denied },
      { fail: denied },
    );
    source.start();
    await vi.runAllTimersAsync();
    expect(log.kinds).toEqual(["close", "close", "open"]);
    expect(log.closes.map((e) => e?.message)).toEqual([missing.message, denied.message]);
    expect(source.openFailures).toBe(5);
    expect(source.reconnects).toBe(0); // the first open is not a reconnect
    await source.stop();
  });

  it("after a loss: close, backoff, open again; the same error after an open is reported again", async () => {
    const source = new ScriptedSource();
    const log = new EventLog(source);
    source.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(log.kinds).toEqual(["open"]);
    source.sink?.data(Buffer.from("abc"));
    source.sink?.lost(new P1Error("SOURCE_DISCONNECTED", "unplugged"));
    source.sink?.lost(new P1Error("SOURCE_DISCONNECTED", "reported twice")); // ignored
    expect(log.kinds).toEqual(["open", "data", "close"]);
    source.script.push({ fail: new Error("gone") });
    await vi.advanceTimersByTimeAsync(100); // first retry fails
    source.script.push({ fail: new Error("gone") });
    await vi.advanceTimersByTimeAsync(200); // second retry fails silently
    await vi.advanceTimersByTimeAsync(400); // third retry succeeds
    expect(log.kinds).toEqual(["open", "data", "close", "close", "open"]);
    expect(log.closes.map((e) => e?.message)).toEqual(["unplugged", "gone"]);
    expect(source.reconnects).toBe(1);
    expect(source.openFailures).toBe(2);
    source.sink?.lost(new P1Error("SOURCE_DISCONNECTED", "unplugged"));
    source.script.push({ fail: new Error("gone") });
    await vi.advanceTimersByTimeAsync(800);
    expect(log.closes.map((e) => e?.message)).toEqual(["unplugged", "gone", "unplugged", "gone"]);
    await source.stop();
  });

  it("ignores data and losses of a replaced link", async () => {
    const source = new ScriptedSource();
    const log = new EventLog(source);
    source.start();
    await vi.advanceTimersByTimeAsync(0);
    const old = source.sink;
    old?.lost(new P1Error("SOURCE_DISCONNECTED", "unplugged"));
    await vi.advanceTimersByTimeAsync(100);
    expect(source.sink).not.toBe(old);
    old?.data(Buffer.from("stale"));
    old?.lost(new P1Error("SOURCE_DISCONNECTED", "stale"));
    expect(log.kinds).toEqual(["open", "close", "open"]);
    await source.stop();
  });

  it("stop() clears the retry timer and closes the link; start() and stop() are idempotent", async () => {
    const source = new ScriptedSource();
    source.script.push({ fail: new Error("gone") });
    source.start();
    source.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    await Promise.all([source.stop(), source.stop()]);
    expect(vi.getTimerCount()).toBe(0);

    source.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(source.linksOpen).toBe(1);
    await source.stop();
    await source.stop();
    expect(source.linksOpen).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stop() while an open is in flight closes the link that opens late, and emits nothing", async () => {
    const source = new ScriptedSource();
    const log = new EventLog(source);
    source.start();
    await source.stop(); // the scripted open resolves after stop() was called
    expect(source.linksOpen).toBe(0);
    expect(log.kinds).toEqual([]);
  });
});
