import { afterEach, describe, expect, it } from "vitest";
import type { VirtualPort } from "../../simulator/index.ts";
import { createTelegramJudge } from "../../src/cli/serial-judge.ts";
import {
  SERIAL_9600_7E1,
  SERIAL_115200_7E1,
  SERIAL_115200_8N1,
  SERIAL_CANDIDATES,
} from "../../src/dsmr/index.ts";
import { isP1Error } from "../../src/shared/index.ts";
import {
  type SerialJudge,
  type SerialLineSettings,
  SerialSource,
  type SerialSourceOptions,
} from "../../src/transport/index.ts";
import { fixture } from "../helpers/fixtures.ts";
import { EventLog, ptyFixtures, RecordingClock, TEST_TIMEOUT_MS } from "./helpers.ts";

const RECONNECT = { initialMs: 20, maxMs: 100 } as const;
const CANDIDATES: readonly SerialLineSettings[] = [SERIAL_115200_8N1, SERIAL_9600_7E1, SERIAL_115200_7E1];
/** Short real windows: a pty has no baud rate, so these tests check the logic, not the timing. */
const WINDOW_MS = 150;

const { cleanups, linkPath, virtualPort, runCleanups } = ptyFixtures("p1-detect-test");
afterEach(runCleanups);

function source(options: Omit<SerialSourceOptions, "reconnect">): { source: SerialSource; log: EventLog } {
  const s = new SerialSource({ ...options, reconnect: { ...RECONNECT, clock: new RecordingClock() } });
  cleanups.push(() => s.stop());
  return { source: s, log: new EventLog(s) };
}

/** Writes `bytes` every 20 ms until the returned stop is called: a meter that keeps talking. */
function keepWriting(port: VirtualPort, bytes: () => Buffer): () => void {
  const timer = setInterval(() => void port.write(bytes()), 20);
  const stop = () => clearInterval(timer);
  cleanups.push(async () => stop());
  return stop;
}

const label = (c: SerialLineSettings) => `${c.baudRate} ${c.dataBits}${c.parity === "none" ? "N" : "E"}1`;

describe("stall watchdog on a pty", { timeout: TEST_TIMEOUT_MS }, () => {
  it("a silent link is closed with 'no data' and reopened; bytes flow again", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const { source: s, log } = source({ path, settings: SERIAL_115200_8N1, stallTimeoutMs: 100 });
    s.start();
    await log.waitFor("open");
    await log.waitFor("open", 2); // nothing written: the watchdog closed and reopened it
    const stall = log.closes[0];
    expect(isP1Error(stall, "SOURCE_DISCONNECTED"), stall?.message).toBe(true);
    expect(stall?.message).toBe(`no data for 0.1 s: reopening serial:${path}`);
    await port.write(Buffer.from("alive"));
    await log.waitForBytes("alive");
    expect(s.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("a link that keeps talking is never closed", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const { source: s, log } = source({ path, settings: SERIAL_115200_8N1, stallTimeoutMs: 150 });
    s.start();
    await log.waitFor("open");
    keepWriting(port, () => Buffer.from("x"));
    await log.until(() => log.bytes.length >= 40, "40 bytes (about 0.8 s, 5 stall windows)");
    expect(log.closes).toEqual([]);
  });

  it("rejects a stall timeout that is not positive", () => {
    expect(
      () => new SerialSource({ path: "/dev/x", settings: SERIAL_115200_8N1, stallTimeoutMs: 0 }),
    ).toThrow(/stallTimeoutMs/);
  });
});

describe("serial settings detection on a pty", { timeout: TEST_TIMEOUT_MS }, () => {
  it("tries the candidates in turn and keeps the one the judge accepts", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    let s: SerialSource | undefined;
    const tried: string[] = [];
    const created = source({
      path,
      settings: "auto",
      candidates: CANDIDATES,
      detectWindowMs: WINDOW_MS,
      createJudge: () => {
        const current = s?.currentSettings;
        if (current) tried.push(`${current.baudRate}/${current.dataBits}${current.parity}`);
        // Any byte is "valid", but only while the port is open at 9600 7E1.
        const judge: SerialJudge = {
          feed: () => (s?.currentSettings === SERIAL_9600_7E1 ? "valid" : "unknown"),
        };
        return judge;
      },
    });
    s = created.source;
    const { log } = created;
    keepWriting(port, () => Buffer.from("b"));
    s.start();
    await log.waitFor("open");
    expect(s.detectedSettings).toBe(SERIAL_9600_7E1);
    expect(s.currentSettings).toBe(SERIAL_9600_7E1);
    expect(tried.slice(0, 2)).toEqual(["115200/8none", "9600/7even"]);
    expect(log.closes).toEqual([]); // a wrong candidate is not a failure worth reporting
    await log.waitForBytes("bbb");
  });

  it("no candidate fits: one clear error, then it keeps cycling and finds the meter", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    let accept: SerialLineSettings | null = null;
    let s: SerialSource | undefined;
    const created = source({
      path,
      settings: "auto",
      candidates: CANDIDATES,
      detectWindowMs: 50,
      createJudge: () => ({ feed: () => (s?.currentSettings === accept ? "valid" : "unknown") }),
    });
    s = created.source;
    const { log } = created;
    keepWriting(port, () => Buffer.from("g"));
    s.start();
    await log.until(() => (s?.openFailures ?? 0) >= 2, "2 failed detection cycles", 5_000);
    expect(log.closes.map((e) => e?.message)).toEqual([
      "no valid telegram at 115200 8N1, 9600 7E1, 115200 7E1: check the cable / inverted signal",
    ]);
    expect(s.detectedSettings).toBeNull();
    accept = SERIAL_115200_7E1;
    await log.waitFor("open", 1, 5_000);
    expect(s.detectedSettings).toBe(SERIAL_115200_7E1);
  });

  it("after a reconnect tries the remembered winner first; garbage for a window falls back to detection", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    let accept: SerialLineSettings = SERIAL_115200_7E1;
    let garbage = false;
    const judged: SerialLineSettings[] = [];
    let s: SerialSource | undefined;
    const created = source({
      path,
      settings: "auto",
      candidates: CANDIDATES,
      detectWindowMs: WINDOW_MS,
      createJudge: () => {
        if (s?.currentSettings) judged.push(s.currentSettings);
        return { feed: () => (!garbage && s?.currentSettings === accept ? "valid" : "unknown") };
      },
    });
    s = created.source;
    const { log } = created;
    keepWriting(port, () => Buffer.from("d"));
    s.start();
    await log.waitFor("open");
    expect(s.detectedSettings).toBe(SERIAL_115200_7E1);

    judged.length = 0;
    garbage = true; // the bytes no longer decode: the settings no longer fit
    await log.waitFor("close", 1, 3_000);
    expect(log.closes[0]?.message).toBe(
      `no valid telegram for ${WINDOW_MS / 1000} s at 115200 7E1 while bytes arrive: detecting the serial settings again`,
    );
    accept = SERIAL_9600_7E1;
    garbage = false;
    await log.waitFor("open", 2, 5_000);
    expect(s.detectedSettings).toBe(SERIAL_9600_7E1);

    // A replug: the winner (9600 7E1) is tried first.
    judged.length = 0;
    await port.close();
    await log.waitFor("close", 2, 3_000);
    const again = await virtualPort(path);
    keepWriting(again, () => Buffer.from("e"));
    await log.waitFor("open", 3, 5_000);
    expect(judged[0]).toBe(SERIAL_9600_7E1);
  });

  it("the real judge accepts DSMR 5 telegrams at 115200 8N1 and the first telegram is not lost", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const telegram = fixture("dsmr50.txt");
    const { source: s, log } = source({
      path,
      settings: "auto",
      candidates: CANDIDATES,
      createJudge: createTelegramJudge,
    });
    s.start();
    await log.until(() => s.currentSettings !== null, "the port open for detection");
    await port.write(telegram);
    await log.waitFor("open");
    expect(s.detectedSettings).toBe(SERIAL_115200_8N1);
    await log.until(() => log.bytes.length >= telegram.length, "the first telegram replayed");
    expect(log.bytes.subarray(0, telegram.length).equals(telegram)).toBe(true);
  });

  /**
   * What a reader at `reader` settings receives of `telegram` sent at `meter` settings. A pty has no baud
   * rate, parity or data bits (the kernel passes bytes as written, whatever termios says), so the line is
   * modelled here: the test writes what the UART would deliver at the settings the port is open with now.
   */
  function onTheWire(meter: SerialLineSettings, reader: SerialLineSettings, telegram: Buffer): Buffer {
    if (meter.baudRate !== reader.baudRate) {
      // Another speed: each meter bit spans several reader bits or a fraction of one: zeros, ones, breaks.
      return Buffer.from(
        Array.from({ length: 64 }, (_, i) => [0x00, 0xf8, 0xff, 0x80, 0xe0][i % 5] as number),
      );
    }
    if (meter.dataBits === 7 && reader.dataBits === 8) {
      // Same speed, 7E1 read as 8N1: the even-parity bit arrives as bit 7.
      return Buffer.from(telegram.map((b) => b | (parityOf(b) << 7)));
    }
    return telegram;
  }

  const parityOf = (b: number) => {
    let p = 0;
    for (let x = b; x; x >>= 1) p ^= x & 1;
    return p;
  };

  it.each([
    ["DSMR 2.2 at 9600 7E1", "dsmr22.txt", SERIAL_9600_7E1, ["115200 8N1", "9600 7E1"]],
    ["DSMR 4.0 at 115200 7E1", "dsmr40.txt", SERIAL_115200_7E1, ["115200 8N1", "9600 7E1", "115200 7E1"]],
  ] as const)(
    "the real judge finds a %s meter, trying the candidates in order",
    async (_, file, meter, order) => {
      const path = linkPath();
      const port = await virtualPort(path);
      const telegram = fixture(file);
      const tried: string[] = [];
      let s: SerialSource | undefined;
      const created = source({
        path,
        settings: "auto",
        candidates: SERIAL_CANDIDATES, // what serve uses
        // Wrong candidates use a whole window; a longer one keeps a loaded machine from missing the right one.
        detectWindowMs: 600,
        createJudge: () => {
          const c = s?.currentSettings;
          if (c && tried.at(-1) !== label(c)) tried.push(label(c));
          return createTelegramJudge();
        },
      });
      s = created.source;
      const { log } = created;
      keepWriting(port, () => {
        const reader = s?.currentSettings;
        return reader ? onTheWire(meter, reader, telegram) : Buffer.alloc(0);
      });
      s.start();
      await log.waitFor("open", 1, 5_000);
      expect(s.detectedSettings).toBe(meter);
      expect(tried).toEqual(order);
      expect(log.closes).toEqual([]);
      await log.until(() => log.bytes.includes(telegram), "a whole telegram replayed or read");
    },
  );

  it("auto without candidates or a judge is a configuration error", () => {
    expect(() => new SerialSource({ path: "/dev/x", settings: "auto" })).toThrow(/candidates and a judge/);
  });
});
