import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openVirtualPort, simulate, startTcpSink } from "../../simulator/index.ts";
import { runCli } from "../helpers/cli.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Writes DSMR 5.0 telegrams into `write` every 50 ms until the test ends. */
function feed(write: (bytes: Buffer) => Promise<void>): void {
  const telegrams = simulate({ version: "5.0", seed: 1, intervalMs: 0 });
  const timer = setInterval(() => {
    for (let e = telegrams.next(); !e.done; e = telegrams.next()) {
      if (e.value.kind === "data") {
        void write(e.value.bytes);
        return;
      }
    }
  }, 50);
  cleanups.push(() => clearInterval(timer));
}

interface Report {
  readonly ok: boolean;
  readonly version: string | null;
  readonly serial_settings?: string | null;
  readonly encrypted: boolean | null;
  readonly meters: readonly { readonly type: string }[];
  readonly telegrams_ok: number;
  readonly telegrams_dropped: Readonly<Record<string, number>>;
  readonly crc_error_rate: number | null;
  readonly bytes: number;
  readonly warnings?: readonly string[];
}

describe("p1-gateway probe (real binary)", { timeout: 30_000 }, () => {
  it("reports a DSMR 5.0 meter on a pty: 115200 8N1, electricity, nothing dropped", async () => {
    const port = await openVirtualPort(join(tmpdir(), `p1-probe-${process.pid}`));
    cleanups.push(() => port.close());
    feed((b) => port.write(b));
    const r = await runCli(["probe", port.path, "--seconds", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.toString()) as Report;
    expect(report.ok).toBe(true);
    expect(report.serial_settings).toBe("115200 8N1");
    expect(report.version).toBe("5.0");
    expect(report.encrypted).toBe(false);
    expect(report.meters.map((m) => m.type)).toContain("electricity");
    expect(report.telegrams_ok).toBeGreaterThan(5);
    expect(report.telegrams_dropped).toEqual({});
    expect(report.crc_error_rate).toBe(0);
  });

  it("--data-request on a pty (no modem-control lines): reports the warning and still finds the meter", async () => {
    const port = await openVirtualPort(join(tmpdir(), `p1-probe-dr-${process.pid}`));
    cleanups.push(() => port.close());
    feed((b) => port.write(b));
    const r = await runCli(["probe", port.path, "--seconds", "2", "--data-request", "dtr"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.toString()) as Report;
    expect(report.serial_settings).toBe("115200 8N1");
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings?.[0]).toMatch(/^cannot raise the data-request line \(DTR\)/);
    const bad = await runCli(["probe", port.path, "--data-request", "up"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toContain("--data-request must be one of rts, dtr, both, none");
  });

  it("reports a meter behind a TCP server", async () => {
    const sink = await startTcpSink(0);
    cleanups.push(() => sink.close());
    feed((b) => sink.write(b));
    const r = await runCli(["probe", `127.0.0.1:${sink.port}`, "--seconds", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.toString()) as Report;
    expect(report.version).toBe("5.0");
    expect(report).not.toHaveProperty("serial_settings");
    expect(report.telegrams_ok).toBeGreaterThan(0);
  });

  it("a missing device: exit 1 with the plug-in message", async () => {
    const r = await runCli(["probe", "/dev/p1-probe-missing", "--seconds", "5"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.toString())).toEqual({
      ok: false,
      source: "serial:/dev/p1-probe-missing",
      error: {
        code: "SOURCE_DISCONNECTED",
        message: "no such device /dev/p1-probe-missing, is the cable plugged in?",
      },
    });
  });

  it("--help", async () => {
    const r = await runCli(["probe", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain("Usage: p1-gateway probe");
  });
});
