import { execFile } from "node:child_process";
import { accessSync, chmodSync, constants, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SerialPort } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { openVirtualPort } from "../../simulator/index.ts";
import { isP1Error, type Timer } from "../../src/shared/index.ts";
import {
  type DataRequestLine,
  describeSerialError,
  MISSING_DEVICE_RETRY_MS,
  type SerialLineSettings,
  SerialSource,
} from "../../src/transport/index.ts";
import { ROOT } from "../helpers/cli.ts";
import { ManualClock } from "../helpers/clock.ts";
import { EventLog, ptyFixtures, RecordingClock, TEST_TIMEOUT_MS, within } from "./helpers.ts";

const LINE: SerialLineSettings = { baudRate: 115200, dataBits: 8, parity: "none", stopBits: 1 };
// Short waits keep replug tests fast; the delays themselves are reconnect.test.ts's business.
const RECONNECT = { initialMs: 20, maxMs: 100 } as const;

const { cleanups, linkPath, virtualPort, runCleanups } = ptyFixtures("p1-serial-test");
afterEach(runCleanups);

function serialSource(path: string, clock = new RecordingClock()): { source: SerialSource; log: EventLog } {
  const source = new SerialSource({ path, settings: LINE, reconnect: { ...RECONNECT, clock } });
  cleanups.push(() => source.stop());
  return { source, log: new EventLog(source) };
}

/** Opens `path` with serialport, which locks it as a second gateway would. */
async function holdPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, ...LINE, autoOpen: false });
  await within(
    new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve()))),
    `open ${path}`,
  );
  cleanups.push(() => release(port));
  return port;
}

function release(port: SerialPort): Promise<void> {
  return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
}

describe("SerialSource on a pty", { timeout: TEST_TIMEOUT_MS }, () => {
  it("opens the port and emits the bytes written into it", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const { source, log } = serialSource(path);
    expect(source.description).toBe(`serial:${path}`);
    source.start();
    source.start();
    await log.waitFor("open");
    await port.write(Buffer.from("/ISK5\\2M550T-1012\r\n\r\n"));
    await port.write(Buffer.from("1-0:1.8.1(001234.567*kWh)\r\n!"));
    await log.waitForBytes("kWh)\r\n!");
    expect(log.bytes.toString()).toBe("/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(001234.567*kWh)\r\n!");
    expect(log.kinds).toEqual(["open", "data"]);
  });

  it("unplug emits close, replug under the same path emits open and the new bytes", async () => {
    const path = linkPath();
    const first = await openVirtualPort(path);
    const { source, log } = serialSource(path);
    source.start();
    await log.waitFor("open");
    await first.write(Buffer.from("before"));
    await log.waitForBytes("before");

    await first.close(); // the cable is pulled: the path disappears
    await log.waitFor("close");
    const lost = log.closes[0];
    expect(isP1Error(lost, "SOURCE_DISCONNECTED"), lost?.message).toBe(true);
    expect(lost?.message).toContain(path);
    // While unplugged, reopening fails with the missing-device message, reported once however often it retries.
    await log.until(() => source.openFailures >= 3, "3 failed reopens");
    expect(log.closes.map((e) => e?.message)).toEqual([
      lost?.message,
      `no such device ${path}, is the cable plugged in?`,
    ]);

    const second = await virtualPort(path); // replugged
    await log.waitFor("open", 2);
    await second.write(Buffer.from("after"));
    await log.waitForBytes("after");
    expect(log.kinds).toEqual(["open", "data", "close", "close", "open", "data"]);
    expect(log.bytes.toString()).toBe("beforeafter");
    expect(source.reconnects).toBe(1);
  });

  it("notices every unplug (a hung-up tty reads 0 bytes; serialport alone would spin on it)", async () => {
    const path = linkPath();
    let port = await openVirtualPort(path);
    cleanups.push(() => port.close());
    const { source, log } = serialSource(path);
    source.start();
    await log.waitFor("open");
    const cycles = 40;
    for (let i = 1; i <= cycles; i++) {
      await port.close();
      await log.waitFor("close", i, 2_000);
      port = await openVirtualPort(path);
      await log.waitFor("open", i + 1, 2_000);
    }
    await port.write(Buffer.from("still reading"));
    await log.waitForBytes("still reading");
    expect(source.reconnects).toBe(cycles);
  });

  it("a missing device gives the plug-in hint once, then opens when it appears", async () => {
    const path = linkPath();
    const { source, log } = serialSource(path);
    source.start();
    await log.waitFor("close");
    await log.until(() => source.openFailures >= 3, "3 failed opens");
    expect(log.closes).toHaveLength(1);
    const error = log.closes[0];
    expect(isP1Error(error, "SOURCE_DISCONNECTED")).toBe(true);
    expect(error?.message).toBe(`no such device ${path}, is the cable plugged in?`);
    expect(error?.context).toMatchObject({ path, errno: "ENOENT" });

    const port = await virtualPort(path);
    await log.waitFor("open");
    await port.write(Buffer.from("hello"));
    await log.waitForBytes("hello");
    expect(source.reconnects).toBe(0);
  });

  it("a port another program holds is reported busy, and opened once released", async () => {
    const path = linkPath();
    await virtualPort(path);
    const other = await holdPort(path);
    const { source, log } = serialSource(path);
    source.start();
    await log.waitFor("close");
    expect(log.closes[0]?.message).toMatch(/is busy: another program has it open/);
    await release(other);
    await log.waitFor("open");
  });

  it("permission denied names the dialout group (a real device with mode 000)", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    chmodSync(port.device, 0o000);
    if (!bypassesPermissions(port.device)) {
      const { source, log } = serialSource(path);
      source.start();
      await log.waitFor("close");
      expect(log.closes[0]?.message).toMatch(/^permission denied opening .*dialout group/);
      return;
    }
    // Root (CAP_DAC_OVERRIDE) would open it anyway: open it from a child running as nobody instead.
    const message = await firstCloseAsNobody(path);
    expect(message).toBe(describeSerialError(Object.assign(new Error(), { code: "EACCES" }), path).message);
  });

  it("stop() closes the port (another program can lock it) and leaves no retry timer", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const clock = new RecordingClock();
    const { source, log } = serialSource(path, clock);
    source.start();
    await log.waitFor("open");
    await Promise.all([source.stop(), source.stop()]);
    await release(await holdPort(path)); // would fail with "Cannot lock port" if we still held it
    await port.close(); // an unplug after stop() is not a disconnect
    expect(clock.pending).toBe(0);
    expect(log.kinds).toEqual(["open"]);
  });

  it("stop() while retrying a missing device clears the retry timer", async () => {
    const clock = new RecordingClock();
    const { source, log } = serialSource(linkPath(), clock);
    source.start();
    await log.until(() => source.openFailures >= 2, "2 failed opens");
    await source.stop();
    expect(clock.pending).toBe(0);
    expect(clock.delays.slice(0, 2)).toEqual([RECONNECT.initialMs, 2 * RECONNECT.initialMs]);
  });
});

/** A manual clock that also records every delay asked for. */
class RecordingManualClock extends ManualClock {
  readonly delays: number[] = [];
  override setTimeout(fn: () => void, ms: number): Timer {
    this.delays.push(ms);
    return super.setTimeout(fn, ms);
  }
}

describe("SerialSource: reconnect guarantees", { timeout: TEST_TIMEOUT_MS }, () => {
  it("a vanished device is looked for every second, however far the backoff has grown", async () => {
    const path = linkPath();
    let port = await openVirtualPort(path);
    cleanups.push(() => port.close());
    const clock = new RecordingManualClock();
    // A backoff that already waits 5 s and would grow to 30 s (a flapping link): the cap must win.
    const source = new SerialSource({
      path,
      settings: LINE,
      reconnect: { initialMs: 5_000, maxMs: 30_000, clock },
    });
    cleanups.push(() => source.stop());
    const log = new EventLog(source);
    source.start();
    await log.waitFor("open");
    await port.close(); // unplugged
    await log.waitFor("close");
    // Each retry: wait until it is scheduled, then fire it; the device stays missing for 5 attempts.
    for (let attempt = 1; attempt <= 5; attempt++) {
      await log.until(() => clock.pending === 1, `retry ${attempt} scheduled`);
      clock.advance(clock.delays.at(-1) ?? 0);
      await log.until(() => source.openFailures >= attempt || source.isOpen, `attempt ${attempt} done`);
    }
    expect(source.openFailures).toBe(5);
    expect(clock.delays).toEqual(Array(6).fill(MISSING_DEVICE_RETRY_MS));
    port = await openVirtualPort(path); // replugged: found at the next check
    await log.until(() => clock.pending === 1, "retry 6 scheduled");
    clock.advance(MISSING_DEVICE_RETRY_MS);
    await log.waitFor("open", 2);
  });

  it("re-resolves a /dev/serial/by-id style link on every reconnect (replugged as another device)", async () => {
    // by-id -> first pty; after the replug the kernel names the adapter differently: the link moves.
    const byId = linkPath();
    const first = await virtualPort(linkPath());
    symlinkSync(first.path, byId);
    cleanups.push(async () => rmSync(byId, { force: true }));
    const { source, log } = serialSource(byId);
    source.start();
    await log.waitFor("open");
    await first.write(Buffer.from("first"));
    await log.waitForBytes("first");

    // Made before the unplug, so the kernel cannot hand out the same pts number again.
    const second = await virtualPort(linkPath());
    expect(second.device).not.toBe(first.device);
    await first.close();
    await log.waitFor("close");
    const tmp = `${byId}.new`;
    symlinkSync(second.path, tmp);
    renameSync(tmp, byId); // atomic re-point, as udev does
    await log.waitFor("open", 2);
    await second.write(Buffer.from("second"));
    await log.waitForBytes("second");
    expect(log.bytes.toString()).toBe("firstsecond");
  });
});

describe("SerialSource: data-request line", { timeout: TEST_TIMEOUT_MS }, () => {
  function dataRequestSource(path: string, dataRequest: DataRequestLine) {
    const source = new SerialSource({ path, settings: LINE, reconnect: RECONNECT, dataRequest });
    cleanups.push(() => source.stop());
    const warnings: string[] = [];
    source.on("warning", (e) => warnings.push(e.message));
    return { source, log: new EventLog(source), warnings };
  }

  it.each(["rts", "dtr", "both"] as const)(
    "%s on a pty (which refuses modem-control ioctls: ENOTTY) warns once and keeps reading across reopens",
    async (line) => {
      const path = linkPath();
      let port = await openVirtualPort(path);
      cleanups.push(() => port.close());
      const { source, log, warnings } = dataRequestSource(path, line);
      expect(source.dataRequest).toBe(line);
      source.start();
      await log.waitFor("open");
      await port.write(Buffer.from("one"));
      await log.waitForBytes("one");
      for (let i = 2; i <= 3; i++) {
        await port.close();
        await log.waitFor("close", i - 1);
        port = await openVirtualPort(path);
        await log.waitFor("open", i);
      }
      await port.write(Buffer.from("three"));
      await log.waitForBytes("three");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        new RegExp(
          `^cannot raise the data-request line \\(${line.toUpperCase()}\\) on .*Inappropriate ioctl`,
        ),
      );
      expect(warnings[0]).toContain("reading on without it");
    },
  );

  it("none asserts nothing and warns about nothing", async () => {
    const path = linkPath();
    const port = await virtualPort(path);
    const { source, log, warnings } = dataRequestSource(path, "none");
    source.start();
    await log.waitFor("open");
    await port.write(Buffer.from("x"));
    await log.waitForBytes("x");
    expect(warnings).toEqual([]);
  });

  it("rejects an unknown line naming the key", () => {
    expect(
      () =>
        new SerialSource({
          path: "/dev/x",
          settings: LINE,
          dataRequest: "cts" as unknown as DataRequestLine,
        }),
    ).toThrow(/dataRequest must be one of rts, dtr, both, none/);
  });
});

/** Runs a SerialSource on `path` in a child process as user nobody; resolves with its first close message. */
function firstCloseAsNobody(path: string): Promise<string> {
  const script = `
    const { SerialSource } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "src/transport/index.ts")).href)});
    const source = new SerialSource({ path: ${JSON.stringify(path)}, settings: ${JSON.stringify(LINE)} });
    source.once("open", () => { process.stdout.write("opened"); void source.stop(); });
    source.once("close", (e) => { process.stdout.write(e?.message ?? "null"); void source.stop(); });
    source.start();`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx/esm", "--input-type=module", "-e", script],
      { cwd: ROOT, uid: NOBODY, gid: NOBODY, timeout: 10_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

/** The conventional unprivileged uid/gid on Linux. */
const NOBODY = 65_534;

function bypassesPermissions(device: string): boolean {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

describe("describeSerialError", { timeout: TEST_TIMEOUT_MS }, () => {
  const path = "/dev/ttyUSB0";

  it.each([
    // serialport's native open puts only the strerror text in the message (no code)
    [
      "Error: No such file or directory, cannot open /dev/ttyUSB0",
      "no such device /dev/ttyUSB0, is the cable plugged in?",
    ],
    ["Error: Permission denied, cannot open /dev/ttyUSB0", "dialout group"],
    ["Error: Device or resource busy, cannot open /dev/ttyUSB0", "is busy: another program has it open"],
    ["Error Resource temporarily unavailable Cannot lock port", "is busy: another program has it open"],
    ["Error: No such device or address, cannot open /dev/ttyUSB0", "is the cable plugged in?"],
    ["Error: Inappropriate ioctl for device, cannot open /dev/ttyUSB0", "is not a serial device"],
  ])("%s", (native, expected) => {
    const error = describeSerialError(new Error(native), path);
    expect(isP1Error(error, "SOURCE_DISCONNECTED")).toBe(true);
    expect(error.message).toContain(expected);
    expect((error.cause as Error).message).toBe(native);
  });

  it("uses the code of an error that has one (EACCES)", () => {
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/dev/ttyUSB0'"), {
      code: "EACCES",
    });
    const error = describeSerialError(eacces, path);
    expect(error.message).toMatch(
      /^permission denied opening \/dev\/ttyUSB0: add the user to the dialout group/,
    );
    expect(error.context).toMatchObject({ path, errno: "EACCES" });
  });

  it("keeps the original text of an unknown failure", () => {
    expect(describeSerialError(new Error("Error: something odd"), path).message).toBe(
      "cannot open serial port /dev/ttyUSB0: Error: something odd",
    );
  });
});
