import { describe, expect, it } from "vitest";
import { createTelegramJudge } from "../../src/cli/serial-judge.ts";
import { SERIAL_CANDIDATES } from "../../src/dsmr/index.ts";
import { Gateway, type TelegramEvent } from "../../src/gateway/index.ts";
import { SerialSource, type Source, TcpSource } from "../../src/transport/index.ts";

// A real meter only when asked for: P1_TEST_PORT=/dev/ttyUSB0 (or /dev/serial/by-id/…, or HOST:PORT for
// ser2net / a Wi-Fi dongle). Everywhere else the suite runs on ptys and loopback sockets.
const TARGET = process.env.P1_TEST_PORT;
if (!TARGET)
  console.warn("real P1 port test skipped: set P1_TEST_PORT=/dev/ttyUSB0 (or HOST:PORT) to run it");

/** DSMR 2.x/3.0 write every 10 s, and detection may try three candidates first: 3 telegrams in 90 s. */
const TELEGRAMS = 3;
const TIMEOUT_MS = 90_000;

function sourceFor(target: string): Source {
  const tcp = /^(.+):(\d+)$/.exec(target);
  if (tcp && !target.startsWith("/")) return new TcpSource({ host: tcp[1] as string, port: Number(tcp[2]) });
  return new SerialSource({
    path: target,
    settings: "auto",
    candidates: SERIAL_CANDIDATES,
    createJudge: createTelegramJudge,
  });
}

describe.skipIf(!TARGET)("a real P1 port (P1_TEST_PORT)", () => {
  it(`reads ${TELEGRAMS} valid telegrams`, { timeout: TIMEOUT_MS + 10_000 }, async () => {
    const source = sourceFor(TARGET as string);
    const gateway = new Gateway({ name: "real", version: "0", sources: [{ id: "meter", source }] });
    const telegrams: TelegramEvent[] = [];
    const closes: string[] = [];
    source.on("close", (e) => closes.push(e?.message ?? "closed"));
    gateway.start();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `${telegrams.length} telegrams in ${TIMEOUT_MS} ms; source said: ${closes.join("; ")}`,
              ),
            ),
          TIMEOUT_MS,
        );
        gateway.on("telegram", (t) => {
          telegrams.push(t);
          if (telegrams.length >= TELEGRAMS) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      await gateway.stop();
    }
    const info = gateway.info().sources[0];
    expect(info?.counters.telegramsOk).toBeGreaterThanOrEqual(TELEGRAMS);
    expect(info?.version).not.toBeNull();
    expect(info?.meters.length).toBeGreaterThan(0);
    if (source instanceof SerialSource) expect(source.detectedSettings).not.toBeNull();
  });
});
