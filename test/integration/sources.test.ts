import { afterEach, describe, expect, it } from "vitest";
import { openVirtualPort, simulate, startTcpSink } from "../../simulator/index.ts";
import { SERIAL_115200_8N1 } from "../../src/dsmr/index.ts";
import { type EntityState, Gateway } from "../../src/gateway/index.ts";
import { SerialSource, type Source, TcpSource } from "../../src/transport/index.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A gateway on one source; resolves once `n` states of the telegram timestamp have been published (the
 * value that changes with every telegram, so one state per telegram received).
 */
function gatewayOn(source: Source) {
  const gateway = new Gateway({ name: "t", version: "0", sources: [{ id: "meter", source }] });
  cleanups.push(() => gateway.stop());
  const stamps: EntityState[] = [];
  const waiters: (() => void)[] = [];
  gateway.on("state", (s) => {
    if (s.entityId.endsWith("_p1_timestamp")) stamps.push(s);
    for (const w of waiters) w();
  });
  gateway.start();
  const states = (n: number) =>
    new Promise<EntityState[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${stamps.length} states`)), 10_000);
      const check = () => {
        if (stamps.length >= n) {
          clearTimeout(timer);
          resolve(stamps);
        }
      };
      waiters.push(check);
      check();
    });
  return { gateway, states };
}

const telegrams = (count: number) =>
  [...simulate({ version: "5.0", seed: 9, count })].flatMap((e) => (e.kind === "data" ? [e.bytes] : []));

describe("the gateway reads real transports", () => {
  it("a serial port (the simulator on a pty, read through serialport)", async () => {
    const port = await openVirtualPort(`/tmp/p1-gw-serial-${process.pid}`);
    cleanups.push(() => port.close());
    const { gateway, states } = gatewayOn(new SerialSource({ path: port.path, settings: SERIAL_115200_8N1 }));
    // Keep writing until the source has the port open: bytes written before that are not received.
    const sent = telegrams(40);
    const writer = (async () => {
      for (const t of sent) {
        await port.write(t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const got = await states(5);
    await writer;
    expect(got[0]?.available).toBe(true);
    expect(gateway.info().sources[0]).toMatchObject({
      link: "ok",
      version: "5.0",
      description: expect.stringContaining(port.path),
    });
  });

  it("a TCP source (the simulator's ser2net-like server)", async () => {
    const sink = await startTcpSink(0, "127.0.0.1");
    cleanups.push(() => sink.close());
    const [host, port] = sink.target.split(/:(?=\d+$)/) as [string, string];
    const { gateway, states } = gatewayOn(new TcpSource({ host, port: Number(port) }));
    const sent = telegrams(40);
    const writer = (async () => {
      for (const t of sent) {
        await sink.write(t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await states(5);
    await writer;
    expect(gateway.info().sources[0]?.counters.telegramsDropped).toEqual({});
  });
});
