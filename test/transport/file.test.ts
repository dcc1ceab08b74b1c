import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { isP1Error, type P1Error } from "../../src/shared/index.ts";
import { FileSource, type FileSourceOptions } from "../../src/transport/index.ts";
import { EventLog, RecordingClock, TEST_TIMEOUT_MS } from "./helpers.ts";

const DIR = mkdtempSync(join(tmpdir(), "p1-file-test-"));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

/** Ten bytes: chunks of 4 are "0123", "4567", "89". */
const BYTES = Buffer.from("0123456789");

let seq = 0;
function capture(bytes: Buffer = BYTES): string {
  const path = join(DIR, `capture-${++seq}.txt`);
  writeFileSync(path, bytes);
  return path;
}

const sources: FileSource[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const s of sources.splice(0)) await s.stop();
});

function fileSource(options: FileSourceOptions): { source: FileSource; log: EventLog } {
  const source = new FileSource(options);
  sources.push(source);
  return { source, log: new EventLog(source) };
}

function chunks(log: EventLog): string[] {
  return log.events.flatMap((e) => (e.kind === "data" ? [e.bytes.toString()] : []));
}

describe("FileSource", { timeout: TEST_TIMEOUT_MS }, () => {
  it("emits the whole file in one chunk, after start() returned, then end", async () => {
    const path = capture();
    const { source, log } = fileSource({ path });
    expect(source.description).toBe(`file:${path}`);
    source.start();
    source.start();
    expect(log.events).toEqual([]);
    await log.waitFor("end");
    expect(log.kinds).toEqual(["open", "data", "end"]);
    expect(chunks(log)).toEqual(["0123456789"]);
  });

  it("splits into chunkBytes", async () => {
    const { source, log } = fileSource({ path: capture(), chunkBytes: 4 });
    source.start();
    await log.waitFor("end");
    expect(chunks(log)).toEqual(["0123", "4567", "89"]);
  });

  it("emits one chunk per intervalMs (fake timers)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { source, log } = fileSource({ path: capture(), chunkBytes: 4, intervalMs: 1_000 });
    source.start();
    await log.waitFor("open"); // the read itself is real I/O
    expect(chunks(log)).toEqual(["0123"]);
    vi.advanceTimersByTime(999);
    expect(chunks(log)).toEqual(["0123"]);
    vi.advanceTimersByTime(1);
    expect(chunks(log)).toEqual(["0123", "4567"]);
    vi.advanceTimersByTime(1_000);
    expect(log.kinds).toEqual(["open", "data", "end"]);
    expect(chunks(log)).toEqual(["0123", "4567", "89"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("loop starts over at the end and never ends", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { source, log } = fileSource({ path: capture(), chunkBytes: 6, intervalMs: 10, loop: true });
    source.start();
    await log.waitFor("open");
    vi.advanceTimersByTime(50);
    expect(chunks(log)).toEqual(["012345", "6789", "012345", "6789", "012345", "6789"]);
    await source.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(chunks(log)).toHaveLength(6);
    expect(log.kinds).not.toContain("end");
  });

  it("loop without an interval replays pass after pass without blocking the event loop", async () => {
    const clock = new RecordingClock();
    const { source, log } = fileSource({ path: capture(), loop: true, clock });
    source.start();
    await log.until(() => chunks(log).length >= 3, "3 passes");
    await source.stop();
    expect(chunks(log).every((c) => c === "0123456789")).toBe(true);
    expect(log.kinds).toEqual(["open", "data"]);
    expect(clock.delays.every((ms) => ms === 0)).toBe(true); // each pass yields to the event loop
    expect(clock.pending).toBe(0); // and stop() left none scheduled
  });

  it("an empty file opens and ends, even with loop", async () => {
    const { source, log } = fileSource({ path: capture(Buffer.alloc(0)), loop: true });
    source.start();
    await log.waitFor("end");
    expect(log.kinds).toEqual(["open", "end"]);
  });

  it.each([
    ["a missing file", () => join(DIR, "missing.txt"), /^capture file .*missing\.txt not found$/],
    ["a directory", () => DIR, /is a directory, not a capture file$/],
    ["a device", () => "/dev/null", /^\/dev\/null is not a regular file/],
  ])("%s: close with a clear error, then end", async (_name, path, message) => {
    const { source, log } = fileSource({ path: path() });
    source.start();
    await log.waitFor("end");
    expect(log.kinds).toEqual(["close", "end"]);
    const error = log.closes[0];
    expect(isP1Error(error, "SOURCE_DISCONNECTED")).toBe(true);
    expect(error?.message).toMatch(message);
  });

  it("stop() right after start() emits nothing", async () => {
    const { source, log } = fileSource({ path: capture() });
    source.start();
    await source.stop(); // waits for the aborted read: anything it emitted would be in the log by now
    await source.stop();
    expect(log.events).toEqual([]);
  });

  it.each([
    [{ chunkBytes: 0 }, "file.chunkBytes"],
    [{ chunkBytes: 1.5 }, "file.chunkBytes"],
    [{ intervalMs: -1 }, "file.intervalMs"],
  ])("rejects %o naming the key", (options, key) => {
    let error: unknown;
    try {
      new FileSource({ path: "x", ...options });
    } catch (e) {
      error = e;
    }
    expect(isP1Error(error, "CONFIG_INVALID")).toBe(true);
    expect((error as P1Error).context?.key).toBe(key);
  });
});
