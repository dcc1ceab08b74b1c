import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import {
  encodePlaintextFrame,
  MESSAGE_IDS,
  type NativeApiServer,
  type NativeApiServerOptions,
  startNativeApiServer,
} from "../../src/api/native/index.ts";
import { encodeMessage } from "../../src/api/native/messages.ts";
import type { Logger } from "../../src/shared/index.ts";
import { eventually, RawClient, ThirdPartyClient } from "../api/native/helpers.ts";
import { closeAfterEach } from "../helpers/closers.ts";
import { MemoryView, makeEntity, makeMeter, numberState, zeroCounters } from "../helpers/view.ts";

// Native API abuse: malformed frames, silence, clients that never read, connection floods. In each case
// only the offending connection is closed, and a real third-party ESPHome client connected throughout
// keeps receiving states.

const closers = closeAfterEach();

const meter = makeMeter("home", "electricity", 0, "E0012345");
const ENTITIES = Array.from({ length: 20 }, (_, i) => makeEntity(meter, `value_${i}`));
const watched = ENTITIES[0]?.id as string;
// Text entities whose states are about 1 KB each: enough bytes to fill the kernel's socket buffers
// (tens of MB on loopback here) quickly, so that the server itself must hold back.
const TEXTS = Array.from({ length: 20 }, (_, i) =>
  makeEntity(meter, `text_${i}`, {
    kind: "text",
    unit: null,
    deviceClass: null,
    stateClass: null,
    decimals: null,
  }),
);
const textState = (id: string, round: number) => ({
  ...numberState(id, 0),
  value: `${round} ${"x".repeat(1_000)}`,
  text: null,
});

function view(): MemoryView {
  const v = new MemoryView();
  v.sources = [
    {
      id: "home",
      description: "simulator:5.0",
      link: "ok",
      version: "5.0",
      encrypted: false,
      meters: [meter],
      counters: zeroCounters(),
      lastTelegramAtMs: null,
    },
  ];
  v.addEntities([...ENTITIES, ...TEXTS]);
  for (const e of ENTITIES) v.publishState(numberState(e.id, 0));
  return v;
}

async function serve(v: MemoryView, over: Partial<NativeApiServerOptions> = {}): Promise<NativeApiServer> {
  const server = await startNativeApiServer(v, {
    host: "127.0.0.1",
    port: 0,
    name: "p1-abuse",
    mac: "02:00:00:aa:bb:cc",
    model: "DSMR 5.0",
    projectVersion: "0.1.0",
    ...over,
  });
  closers.push(() => server.stop());
  return server;
}

/** The client's latest state of an entity, or undefined while it has not listed that entity yet. */
function latest(c: ThirdPartyClient, objectId: string): Record<string, unknown> | undefined {
  return Object.values(c.client.entities).some((e) => e.config.objectId === objectId)
    ? c.lastState(objectId)
    : undefined;
}

/** A server, a view, and a well-behaved third-party client that has seen the initial states. */
async function withGoodClient(over: Partial<NativeApiServerOptions> = {}) {
  const v = view();
  const server = await serve(v, over);
  const good = new ThirdPartyClient(server.port);
  closers.push(() => good.close());
  await eventually(() => latest(good, watched) !== undefined, "the good client's initial states");
  let value = 0;
  /** Publishes a new value and waits until the good client has it. */
  const stillServed = async (): Promise<void> => {
    value++;
    v.publishState(numberState(watched, value));
    await eventually(() => latest(good, watched)?.state === value, `the good client to get ${value}`);
    expect(good.client.connection.connected).toBe(true);
  };
  return { v, server, good, stillServed };
}

async function raw(server: NativeApiServer): Promise<RawClient> {
  const c = await RawClient.open(server.port);
  closers.push(() => c.close());
  return c;
}

const frame = (name: keyof typeof MESSAGE_IDS, fields: Record<string, unknown> = {}): Buffer =>
  encodePlaintextFrame(MESSAGE_IDS[name], encodeMessage(name, fields));

describe("native API abuse: malformed frames close only the offender", () => {
  const CASES: [string, Buffer][] = [
    ["a length varint longer than 4 bytes", Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])],
    ["a 4 GB length (5-byte varint)", Buffer.from([0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01])],
    ["a 256 MB length (largest 4-byte varint)", Buffer.from([0x00, 0xff, 0xff, 0xff, 0x7f, 0x01])],
    ["a type varint longer than 4 bytes", Buffer.from([0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ["garbage before the hello", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["a Noise frame on a plaintext server", Buffer.from([0x01, 0x00, 0x00])],
    ["a hello whose payload is not protobuf", Buffer.from([0x00, 0x03, 0x01, 0xff, 0xff, 0xff])],
  ];
  it.each(CASES)("%s", async (_name, bytes) => {
    const { server, stillServed } = await withGoodClient();
    const bad = await raw(server);
    bad.write(bytes);
    await bad.waitClosed();
    await eventually(() => server.connections() === 1, "the offender to be released");
    await stillServed();
  });

  it("unknown message types (with payloads) are skipped; the connection stays and answers", async () => {
    const { server, stillServed } = await withGoodClient();
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    for (const type of [30, 64, 999, 4_000, 2 ** 28 - 1])
      c.write(encodePlaintextFrame(type, Buffer.alloc(100, 0x55)));
    c.send("PingRequest");
    await c.waitFor("PingResponse");
    expect(c.closed).toBe(false);
    await stillServed();
  });
});

describe("native API abuse: silence", () => {
  const KEEPALIVE_MS = 150;

  it("half a frame and then silence before the hello: dropped at the hello timeout", async () => {
    const { server, stillServed } = await withGoodClient({ keepaliveMs: KEEPALIVE_MS });
    const c = await raw(server);
    c.write(frame("HelloRequest", { client_info: "half" }).subarray(0, 4));
    await c.waitClosed(20 * KEEPALIVE_MS);
    expect(c.received).toEqual([]);
    await stillServed();
  });

  it("half a Noise handshake and then silence on an encrypted server: dropped at the hello timeout", async () => {
    const { server, stillServed } = await withGoodClient({ keepaliveMs: KEEPALIVE_MS });
    const noise = await serve(view(), { keepaliveMs: KEEPALIVE_MS, encryptionKey: randomBytes(32) });
    const c = await raw(noise);
    c.write(Buffer.from([0x01, 0x00, 0x30, 0x00])); // a Noise frame header promising 48 bytes, then nothing
    await c.waitClosed(20 * KEEPALIVE_MS);
    expect(noise.connections()).toBe(0);
    expect(server.connections()).toBe(1);
    await stillServed();
  });

  it("half a frame and then silence after the hello: pinged, then dropped", async () => {
    const { server, stillServed } = await withGoodClient({ keepaliveMs: KEEPALIVE_MS });
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    c.write(frame("DeviceInfoRequest").subarray(0, 2));
    await c.waitFor("PingRequest", 20 * KEEPALIVE_MS);
    await c.waitClosed(20 * KEEPALIVE_MS);
    await stillServed();
  });

  it("a frame trickled one byte at a time never counts as traffic: dropped all the same", async () => {
    const { server, stillServed } = await withGoodClient({ keepaliveMs: KEEPALIVE_MS });
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    // A 60,000-byte frame (legal size) whose bytes come slowly: it would take far past the timeout.
    const big = encodePlaintextFrame(MESSAGE_IDS.PingRequest, Buffer.alloc(60_000));
    let at = 0;
    const trickle = setInterval(() => {
      if (!c.closed && at < big.length) c.write(big.subarray(at, ++at));
    }, 10);
    closers.push(() => clearInterval(trickle));
    await c.waitClosed(40 * KEEPALIVE_MS);
    clearInterval(trickle);
    expect(at).toBeLessThan(big.length);
    await stillServed();
  });
});

describe("native API abuse: clients that never read", () => {
  /**
   * A client that says hello, lists, subscribes, then stops reading (its receive window fills). A paused
   * socket does not see the server's close until it reads again, so the server side is watched instead.
   */
  async function neverReads(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
    const socket = connect(port, "127.0.0.1");
    let closed = false;
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.pause();
    socket.write(
      Buffer.concat([frame("HelloRequest"), frame("ListEntitiesRequest"), frame("SubscribeStatesRequest")]),
    );
    closers.push(() => {
      socket.destroy();
    });
    return { socket, closed: () => closed };
  }

  it("one that floods requests is dropped once its ordered queue passes the cap", async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (m) => warnings.push(m),
      error: (m) => warnings.push(m),
      child: () => logger,
    };
    const { server, v, stillServed } = await withGoodClient({ maxQueuePerClient: 64, logger });
    const slow = await neverReads(server.port);
    await eventually(() => server.connections() === 2, "the slow client to be accepted");
    // Entity listings (41 messages each) pile up: first in the kernel buffers (tens of MB on loopback),
    // then in the server's ordered queue, up to the cap; then the server gives up on the client.
    const burst = Buffer.concat(Array.from({ length: 500 }, () => frame("ListEntitiesRequest")));
    let sent = 0;
    const dropped = () => warnings.some((w) => w.includes("dropped: TOO_LARGE"));
    while (!dropped() && sent < 400) {
      slow.socket.write(burst);
      sent++;
      await new Promise((r) => setImmediate(r));
      if (sent % 20 === 0) v.publishState(numberState(watched, -sent)); // states keep flowing meanwhile
    }
    expect(sent).toBeLessThan(400);
    // It gets a grace period to take what is queued, then it is closed.
    await eventually(() => server.connections() === 1, "the flooding client to be closed", 10_000);
    expect(warnings).toHaveLength(1);
    // Once it reads again it gets what was in flight, then the close.
    slow.socket.resume();
    await eventually(slow.closed, "the slow client to see the close", 10_000);
    await stillServed();
  });

  it("one that only stops reading gets its states coalesced and is dropped by keepalive", async () => {
    const KEEPALIVE_MS = 1_000;
    const { server, v, good, stillServed } = await withGoodClient({ keepaliveMs: KEEPALIVE_MS });
    const slow = await neverReads(server.port);
    await eventually(() => server.connections() === 2, "the slow client to be accepted");
    // Far more state bytes than the socket buffers hold: the server must coalesce, not queue them all.
    const before = v.coalesced;
    for (let round = 1; round <= 3_000 && server.connections() === 2; round++) {
      for (const e of TEXTS) v.publishState(textState(e.id, round));
      if (round % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(v.coalesced).toBeGreaterThan(before);
    await eventually(
      () => server.connections() === 1,
      "the silent non-reader to be dropped",
      10 * KEEPALIVE_MS,
    );
    slow.socket.resume();
    await eventually(slow.closed, "the non-reader to see the close", 10_000);
    expect(good.client.connection.connected).toBe(true);
    await stillServed();
  });
});

describe("native API abuse: connection floods", () => {
  it("1,000 connect/disconnect cycles leave no connection, client count or listener behind", async () => {
    const { server, v, stillServed } = await withGoodClient();
    const listeners = () => v.listenerCount("state") + v.listenerCount("entities") + v.listenerCount("link");
    const baseline = listeners();
    const BATCH = 50;
    for (let i = 0; i < 1_000; i += BATCH) {
      await Promise.all(
        Array.from({ length: BATCH }, async (_, j) => {
          const c = await RawClient.open(server.port);
          const kind = (i + j) % 4;
          if (kind === 1) c.write(frame("HelloRequest"));
          if (kind === 2) {
            c.send("HelloRequest");
            c.send("ListEntitiesRequest");
            c.send("SubscribeStatesRequest");
            await c.waitFor("ListEntitiesDoneResponse");
          }
          if (kind === 3) c.write(frame("HelloRequest").subarray(0, 3)); // hangs up mid-frame
          c.close();
        }),
      );
    }
    await eventually(
      () => server.connections() === 1 && v.clients === 1,
      "every cycle to be released",
      10_000,
    );
    expect(v.underflows).toBe(0);
    expect(listeners()).toBe(baseline);
    await stillServed();
  });

  it("200 simultaneous clients all get states; one misbehaving among them is the only one closed", async () => {
    const { server, v, stillServed } = await withGoodClient();
    const clients = await Promise.all(Array.from({ length: 200 }, () => raw(server)));
    for (const c of clients) {
      c.send("HelloRequest");
      c.send("ListEntitiesRequest");
      c.send("SubscribeStatesRequest");
    }
    await Promise.all(clients.map((c) => c.waitFor("ListEntitiesDoneResponse", 15_000)));
    expect(server.connections()).toBe(201);
    expect(v.maxClients).toBe(201);
    const [bad, ...rest] = clients as [RawClient, ...RawClient[]];
    bad.write(Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await bad.waitClosed();
    v.publishState(numberState(ENTITIES[1]?.id as string, 77));
    const got77 = (c: RawClient) =>
      c.received.some((m) => m.name === "SensorStateResponse" && m.fields?.state === 77);
    await eventually(() => rest.every(got77), "all 199 others to get the new state", 15_000);
    expect(rest.every((c) => !c.closed)).toBe(true);
    expect(server.connections()).toBe(200);
    await stillServed();
    for (const c of rest) c.close();
    await eventually(() => server.connections() === 1 && v.clients === 1, "the 199 to be released", 10_000);
  });
});
