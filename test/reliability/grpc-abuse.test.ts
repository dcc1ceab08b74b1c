import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Simulator } from "../../simulator/index.ts";
import { GATEWAY_SERVICE, type GrpcServer, startGrpcServer } from "../../src/api/grpc/index.ts";
import { Gateway } from "../../src/gateway/index.ts";
import { ManualClock } from "../helpers/clock.ts";
import { closeAfterEach } from "../helpers/closers.ts";
import { Collector, type EntityStateMsg, GatewayTestClient, streamError } from "../helpers/grpc-client.ts";
import { eventually } from "../helpers/wait.ts";
import { DrivenSource } from "./drive.ts";

// gRPC abuse against a real Gateway fed by the simulator on a manual clock: a thousand streams that end
// every way a stream can end, malformed requests, and a consumer that stops reading while telegrams
// keep coming. Nothing may stay behind: view listeners, client counts, queued messages, sockets.

const closers = closeAfterEach();

async function setup(maxQueuePerClient?: number) {
  const clock = new ManualClock();
  const source = new DrivenSource();
  const gateway = new Gateway({ name: "abuse", version: "0.0.0", clock, sources: [{ id: "home", source }] });
  const server: GrpcServer = await startGrpcServer(gateway, {
    host: "127.0.0.1",
    port: 0,
    ...(maxQueuePerClient === undefined ? {} : { maxQueuePerClient }),
  });
  gateway.start();
  closers.push(
    () => server.stop(),
    () => gateway.stop(),
  );
  const sim = new Simulator({ version: "5.0", seed: 9, startTime: clock.now() });
  /** The meter sends `n` telegrams (one simulated second each). */
  const telegrams = (n: number): void => {
    for (let i = 0; i < n; i++) for (const ev of sim.next().events) source.deliver(ev, clock);
  };
  telegrams(1);
  const listeners = () =>
    gateway.listenerCount("state") + gateway.listenerCount("telegram") + gateway.listenerCount("entities");
  return { gateway, server, telegrams, listeners };
}

function client(server: GrpcServer): GatewayTestClient {
  const c = new GatewayTestClient(server.address);
  closers.push(() => c.close());
  return c;
}

/** Opens StreamTelegrams over a bare HTTP/2 session and destroys the connection once the server answers. */
async function diesAfterSubscribing(address: string): Promise<void> {
  const [host = "", port = ""] = address.split(/:(?=\d+$)/);
  let socket: Socket | undefined;
  const session = connectHttp2(`http://${address}`, {
    createConnection: () => {
      socket = connectTcp(Number(port), host);
      return socket;
    },
  });
  session.on("error", () => {});
  const req = session.request({
    ":method": "POST",
    ":path": `/${GATEWAY_SERVICE}/StreamTelegrams`,
    "content-type": "application/grpc",
    te: "trailers",
  });
  req.on("error", () => {});
  req.end(Buffer.from([0, 0, 0, 0, 0])); // one empty, uncompressed message
  await new Promise<void>((resolve) => req.once("response", () => resolve()));
  socket?.destroy();
}

const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

describe("gRPC abuse on a live gateway", () => {
  it("1,000 streams ending every way (cancel, early cancel, deadline, client death, rejection) leave nothing behind", async () => {
    const { gateway, server, telegrams, listeners } = await setup();
    const baseline = listeners();
    const entities = gateway.entities().length;
    let sockets = -1;
    const WAVES = 10;
    const PER_WAVE = 100;
    for (let wave = 0; wave < WAVES; wave++) {
      // Each wave on its own channel, closed at the end of the wave.
      const c = new GatewayTestClient(server.address);
      const ends: Promise<unknown>[] = [];
      for (let i = 0; i < PER_WAVE; i++) {
        const kind = i % 5;
        if (kind === 0) {
          // Reads its snapshot, then cancels.
          const call = c.streamStates();
          const got = new Collector<EntityStateMsg>(call);
          ends.push(got.count(entities).then(() => call.cancel()));
        } else if (kind === 1) {
          // Cancelled before the server even answered.
          const call = c.streamStates({ source_ids: ["home"] });
          call.on("error", () => {});
          call.cancel();
        } else if (kind === 2) {
          // A deadline ends it (grpc-js reports DEADLINE_EXCEEDED, the server releases the stream).
          const call = c.raw.makeServerStreamRequest(
            `/${GATEWAY_SERVICE}/StreamTelegrams`,
            () => Buffer.alloc(0),
            (b: Buffer) => b,
            {},
            { deadline: Date.now() + 200 },
          );
          call.on("data", () => {});
          ends.push(streamError(call).then((e) => expect(e.code).toBe(status.DEADLINE_EXCEEDED)));
        } else if (kind === 3) {
          // A client that dies: a raw HTTP/2 session subscribes, then its socket is destroyed.
          ends.push(diesAfterSubscribing(server.address));
        } else {
          // Malformed: rejected at once, never subscribed.
          ends.push(
            streamError(c.streamStates({ meter_ids: [`Bad-${i}`] })).then((e) =>
              expect(e.code).toBe(status.INVALID_ARGUMENT),
            ),
          );
        }
      }
      telegrams(5); // live traffic while the streams come and go
      await Promise.all(ends);
      c.close();
      await eventually(
        () => gateway.info().counters.clients === 0 && listeners() === baseline,
        `wave ${wave} to be released`,
        15_000,
      );
      expect(server.queuedMessages()).toBe(0);
      if (wave === 0) sockets = tcpSockets();
    }
    // The last wave's channel was just closed: its socket may still be closing, so wait for it (bounded).
    await eventually(() => tcpSockets() <= sockets, `TCP sockets back to ${sockets}`, 15_000);
    // The server still serves.
    const after = client(server);
    const call = after.streamStates();
    closers.push(() => call.cancel());
    const got = new Collector<EntityStateMsg>(call);
    await got.count(entities);
    telegrams(1);
    // The new telegram's changes follow the snapshot; its timestamp is always one of them.
    await got.until((items) => items.slice(entities).some((s) => s.entity_id.endsWith("_p1_timestamp")));
  });

  it("malformed requests get proper status codes and leave the server serving", async () => {
    const { gateway, server } = await setup();
    const c = client(server);
    const tooMany = Array.from({ length: 1_001 }, (_, i) => `e_${i}`);
    for (const request of [
      { entity_ids: tooMany },
      { source_ids: ["UPPER"] },
      { meter_ids: ["x".repeat(129)] },
    ]) {
      const e = await streamError(c.streamStates(request));
      expect(e.code, JSON.stringify(request).slice(0, 60)).toBe(status.INVALID_ARGUMENT);
    }
    // Bytes that are not a StreamStatesRequest (field 1 claims 100 bytes, 2 follow).
    const garbage = c.raw.makeServerStreamRequest(
      `/${GATEWAY_SERVICE}/StreamStates`,
      () => Buffer.from([0x0a, 0x64, 0x41, 0x42]),
      (b: Buffer) => b,
      {},
    );
    garbage.on("data", () => {});
    expect((await streamError(garbage)).code).toBe(status.INVALID_ARGUMENT);
    // A method the service does not have.
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) =>
      c.raw.makeUnaryRequest(
        `/${GATEWAY_SERVICE}/DeleteEverything`,
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        (err) => resolve(err),
      ),
    );
    expect(unknown?.code).toBe(status.UNIMPLEMENTED);
    // A request over grpc-js' 4 MB receive limit.
    const huge = await new Promise<grpc.ServiceError | null>((resolve) =>
      c.raw.makeUnaryRequest(
        `/${GATEWAY_SERVICE}/GetInfo`,
        () => Buffer.alloc(5 * 2 ** 20),
        (b: Buffer) => b,
        {},
        (err) => resolve(err),
      ),
    );
    expect(huge?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(gateway.info().counters.clients).toBe(0);
    expect((await c.getInfo()).name).toBe("abuse");
  });

  it("a consumer that stops reading while the meter runs for 10 minutes: bounded queue, fast one unaffected", async () => {
    const MAX_QUEUE = 32;
    const { gateway, server, telegrams } = await setup(MAX_QUEUE);
    const entities = gateway.entities().length;
    const fastCall = client(server).streamStates();
    const slowCall = client(server).streamStates();
    closers.push(
      () => fastCall.cancel(),
      () => slowCall.cancel(),
    );
    const fast = new Collector<EntityStateMsg>(fastCall);
    const slow = new Collector<EntityStateMsg>(slowCall);
    await Promise.all([fast.count(entities), slow.count(entities)]);
    slowCall.pause();
    // The telegram's timestamp: the value every telegram changes, so published for each one.
    const stamp = gateway.entities().find((e) => e.channelName === "p1_timestamp")?.id ?? "";
    const latestSecond = () => Math.floor((gateway.state(stamp)?.receivedAtMs ?? 0) / 1000);
    let maxQueued = 0;
    for (let second = 0; second < 600; second++) {
      telegrams(1);
      maxQueued = Math.max(maxQueued, server.queuedMessages());
      // The fast client reads each telegram's states as they come.
      await fast.until((items) =>
        items.some(
          (s, k) =>
            k >= items.length - entities &&
            s.entity_id === stamp &&
            s.received_time?.seconds === latestSecond(),
        ),
      );
    }
    // Over both streams: the slow one holds at most its cap plus one state per entity, the fast one at
    // most the telegram in flight.
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUE + 2 * entities);
    expect(gateway.info().counters.coalesced).toBeGreaterThan(0);
    // The fast stream got every timestamp: the snapshot, then one per telegram.
    expect(fast.items.filter((s) => s.entity_id === stamp)).toHaveLength(601);
    // The slow one catches up to the latest values once it reads again.
    slowCall.resume();
    const latest = gateway.state(stamp);
    await slow.until((items) => items.some((s) => s.entity_id === stamp && s.text === latest?.value));
    await eventually(() => server.queuedMessages() === 0, "the queue to drain", 15_000);
  });
});
