import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { type PtySink, simulate, startPty } from "../../simulator/index.ts";
import { createTelegramJudge } from "../../src/cli/serial-judge.ts";
import { SERIAL_115200_8N1, SERIAL_CANDIDATES } from "../../src/dsmr/index.ts";
import { Gateway } from "../../src/gateway/index.ts";
import { createLogger } from "../../src/shared/index.ts";
import { MISSING_DEVICE_RETRY_MS, SerialSource } from "../../src/transport/index.ts";
import { eventually } from "../helpers/wait.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// Short waits keep 100 cycles fast. That a replug is noticed within 2 s with the default backoff is a design
// guarantee (MISSING_DEVICE_RETRY_MS caps every wait while the device is missing), checked below and in
// test/transport/serial.test.ts on a manual clock; wall-clock times are not asserted.
const RECONNECT = { initialMs: 2, maxMs: 10 } as const;
const CYCLES = 100;
/** Telegrams written after each replug: every one must arrive. */
const PER_CYCLE = 2;

/** `gc()`, exposed on demand (vitest runs without --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

function openDescriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Requests in flight (a read waiting in the thread pool) and timers (vitest's own) come and go. */
const TRANSIENT = new Set(["Timeout", "Immediate", "FSReqCallback", "FSReqPromise"]);

/** Active handles (pipes, sockets, ttys…) by kind. */
function handles(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => !TRANSIENT.has(r))
    .sort();
}

/** A started gateway reading `source`, with the source's opens and closes counted and every telegram's bytes kept. */
function watchedGateway(source: SerialSource) {
  const gateway = new Gateway({ name: "t", version: "0", sources: [{ id: "meter", source }] });
  cleanups.push(() => gateway.stop());
  const seen = { gateway, opens: 0, closes: 0, received: [] as Buffer[] };
  source.on("open", () => seen.opens++);
  source.on("close", () => seen.closes++);
  gateway.on("telegram", (t) => seen.received.push(t.raw));
  gateway.start();
  return seen;
}

describe("unplug and replug under a running gateway (the simulator on a pty, read through serialport)", () => {
  it(`${CYCLES} cycles: every telegram written after a replug arrives, no handle or memory is left behind`, {
    timeout: 120_000,
  }, async () => {
    expect(MISSING_DEVICE_RETRY_MS).toBeLessThanOrEqual(1_000); // the 2 s guarantee, with room for the open
    const sink: PtySink = await startPty(join(tmpdir(), `p1-replug-${process.pid}`));
    cleanups.push(() => sink.close());
    const source = new SerialSource({ path: sink.path, settings: SERIAL_115200_8N1, reconnect: RECONNECT });
    const seen = watchedGateway(source);
    await eventually(() => seen.opens === 1, "the first open");

    const sent = [...simulate({ version: "5.0", seed: 3, count: (CYCLES + 1) * PER_CYCLE })].flatMap((e) =>
      e.kind === "data" ? [e.bytes] : [],
    );
    let next = 0;
    const writeTelegrams = async () => {
      for (let i = 0; i < PER_CYCLE; i++) await sink.write(sent[next++] as Buffer);
      await eventually(() => seen.received.length === next, `telegram ${next}`);
    };
    await writeTelegrams();

    let baseline: { fds: number; handles: string[]; heap: number } | undefined;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      sink.cable("unplug");
      await sink.write(Buffer.alloc(0)); // waits for the unplug to complete
      await eventually(() => seen.closes >= cycle, `close ${cycle}`);
      sink.cable("replug");
      await sink.write(Buffer.alloc(0));
      await eventually(() => seen.opens === cycle + 1, `open ${cycle + 1}`);
      // The port is reopened: what the meter writes from now on must all arrive.
      await writeTelegrams();
      if (cycle === 10) {
        // Measured after warm-up: lazily loaded modules and pools are in place by now.
        collectGarbage();
        baseline = { fds: openDescriptors(), handles: handles(), heap: process.memoryUsage().heapUsed };
      }
    }

    expect(seen.received.length).toBe(next);
    // The gateway's raw telegram ends at the CRC; the meter's line ends after it with CR LF.
    const frames = sent.map((t) => t.subarray(0, t.lastIndexOf("!") + 5));
    for (let i = 0; i < next; i++)
      expect(seen.received[i]?.equals(frames[i] as Buffer), `telegram ${i}`).toBe(true);
    const info = seen.gateway.info().sources[0];
    expect(info?.counters.telegramsOk).toBe(next);
    expect(info?.counters.telegramsDropped).toEqual({});
    expect(info?.counters.reconnects).toBe(CYCLES);
    expect(source.reconnects).toBe(CYCLES);

    collectGarbage();
    expect(openDescriptors()).toBe(baseline?.fds);
    expect(handles()).toEqual(baseline?.handles);
    // Generous: 90 cycles that leaked a port, a listener set or a buffer per cycle would exceed it.
    expect(process.memoryUsage().heapUsed - (baseline?.heap ?? 0)).toBeLessThan(8 * 1024 * 1024);
  });

  it("a flapping, then missing device: each message logged once, every failed open counted in GetInfo", {
    timeout: 30_000,
  }, async () => {
    const sink: PtySink = await startPty(join(tmpdir(), `p1-replug-log-${process.pid}`));
    cleanups.push(() => sink.close());
    const lines: string[] = [];
    const logger = createLogger("p1", { sink: (line) => lines.push(line), level: "warn" });
    // A pty refuses the data-request ioctl: one warning for the source's whole life, however often it reopens.
    const source = new SerialSource({
      path: sink.path,
      settings: SERIAL_115200_8N1,
      reconnect: RECONNECT,
      dataRequest: "rts",
    });
    const gateway = new Gateway({ name: "t", version: "0", sources: [{ id: "meter", source }], logger });
    cleanups.push(() => gateway.stop());
    let opens = 0;
    source.on("open", () => opens++);
    gateway.start();
    await eventually(() => opens === 1, "the first open");
    for (let cycle = 1; cycle <= 5; cycle++) {
      sink.cable("unplug");
      await sink.write(Buffer.alloc(0));
      // Unplugged long enough for several failed opens each time.
      const failures = source.openFailures;
      await eventually(() => source.openFailures >= failures + 3, `failed opens in cycle ${cycle}`);
      sink.cable("replug");
      await sink.write(Buffer.alloc(0));
      await eventually(() => opens === cycle + 1, `open ${cycle + 1}`);
    }
    sink.cable("unplug");
    await sink.write(Buffer.alloc(0));
    await eventually(() => source.openFailures >= 40, "40 failed opens");

    const counted = gateway.info().sources[0]?.counters.openFailures ?? 0;
    expect(counted).toBeGreaterThanOrEqual(40);
    expect(gateway.info().counters.openFailures).toBe(counted);
    const disconnected = lines.filter((l) => l.includes(`serial port ${sink.path} disconnected`));
    const missing = lines.filter((l) => l.includes(`no such device ${sink.path}, is the cable plugged in?`));
    // The logger's repeat window (60 s) holds back identical lines; the counters keep the full count.
    expect(disconnected).toHaveLength(1);
    expect(missing).toHaveLength(1);
    expect(lines.filter((l) => l.includes("cannot raise the data-request line (RTS)"))).toHaveLength(1);
    expect(lines).toHaveLength(3);
  });

  it("with detected settings too: telegrams written while the reopened port is being judged are kept", {
    timeout: 60_000,
  }, async () => {
    const sink: PtySink = await startPty(join(tmpdir(), `p1-replug-auto-${process.pid}`));
    cleanups.push(() => sink.close());
    const source = new SerialSource({
      path: sink.path,
      settings: "auto",
      candidates: SERIAL_CANDIDATES,
      createJudge: createTelegramJudge,
      reconnect: RECONNECT,
    });
    const seen = watchedGateway(source);
    const cycles = 10;
    const sent = [...simulate({ version: "5.0", seed: 4, count: (cycles + 1) * PER_CYCLE })].flatMap((e) =>
      e.kind === "data" ? [e.bytes] : [],
    );
    let next = 0;
    for (let cycle = 0; cycle <= cycles; cycle++) {
      if (cycle > 0) {
        sink.cable("unplug");
        await sink.write(Buffer.alloc(0));
        await eventually(() => seen.closes >= cycle, `close ${cycle}`);
        // The old port released: a non-null setting from here on is the reopened port's.
        await eventually(() => source.currentSettings === null, `port ${cycle} released`);
        sink.cable("replug");
        await sink.write(Buffer.alloc(0));
      }
      // The port is open again (being judged, not yet reported up): from now on nothing may be lost.
      await eventually(() => source.currentSettings !== null, `port ${cycle} open for detection`);
      for (let i = 0; i < PER_CYCLE; i++) await sink.write(sent[next++] as Buffer);
      await eventually(() => seen.received.length === next, `telegram ${next}`);
      expect(seen.opens).toBe(cycle + 1);
    }
    const frames = sent.map((t) => t.subarray(0, t.lastIndexOf("!") + 5));
    for (let i = 0; i < next; i++)
      expect(seen.received[i]?.equals(frames[i] as Buffer), `telegram ${i}`).toBe(true);
    expect(source.detectedSettings).toBe(SERIAL_CANDIDATES[0]);
  });
});
