import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import protobuf from "protobufjs";
// Side effect: adds Root.fromDescriptor, to build types from what reflection returns.
import "protobufjs/ext/descriptor/index.js";
import { beforeEach, describe, expect, it } from "vitest";
import { GATEWAY_SERVICE, type GrpcServer, startGrpcServer } from "../../../src/api/grpc/index.ts";
import type { TelegramEvent } from "../../../src/gateway/index.ts";
import { silentLogger } from "../../../src/shared/index.ts";
import { closeAfterEach } from "../../helpers/closers.ts";
import { fixture, parseOk } from "../../helpers/fixtures.ts";
import {
  Collector,
  type EntityStateMsg,
  GatewayTestClient,
  HealthTestClient,
  ReflectionTestClient,
  streamError,
  subscribed,
} from "../../helpers/grpc-client.ts";
import { MemoryView, makeEntity, makeMeter, numberState, zeroCounters } from "../../helpers/view.ts";

// protobufjs 7 adds it at run time without declaring it on Root.
declare module "protobufjs" {
  namespace Root {
    function fromDescriptor(descriptor: Uint8Array): Root;
  }
}

const closers = closeAfterEach();

async function serve(view: MemoryView, maxQueuePerClient?: number): Promise<GrpcServer> {
  const server = await startGrpcServer(view, {
    host: "127.0.0.1",
    port: 0,
    ...(maxQueuePerClient === undefined ? {} : { maxQueuePerClient }),
  });
  closers.push(() => server.stop());
  return server;
}

function client(server: GrpcServer): GatewayTestClient {
  const c = new GatewayTestClient(server.address);
  closers.push(() => c.close());
  return c;
}

/** Waits (bounded) until `condition` holds; for server-side effects the client cannot observe. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const home = makeMeter("home", "electricity", 0, "E0012345");
const gas = makeMeter("home", "gas", 1, "G0034");
const garage = makeMeter("garage", "electricity", 0, "E0099");
const tariff1 = makeEntity(home, "emeter_delivery_tariff1");
const power = makeEntity(home, "emeter_current_delivery", {
  obis: "1-0:1.7.0",
  unit: "kW",
  deviceClass: "power",
  stateClass: "measurement",
});
const message = makeEntity(home, "text_message", {
  obis: "0-0:96.13.0",
  kind: "text",
  unit: null,
  deviceClass: null,
  stateClass: null,
  decimals: null,
  diagnostic: true,
});
const gasReading = makeEntity(gas, "hourly_reading_gas", {
  obis: "0-1:24.2.1",
  unit: "m3",
  deviceClass: "gas",
});
const garageTariff1 = makeEntity(garage, "emeter_delivery_tariff1");
const ALL = [tariff1, power, message, gasReading, garageTariff1];

function homeView(): MemoryView {
  const view = new MemoryView();
  view.sources = [
    {
      id: "home",
      description: "serial:/dev/ttyUSB0",
      link: "ok",
      version: "5.0",
      encrypted: false,
      meters: [home, gas],
      counters: {
        ...zeroCounters(),
        telegramsOk: 41,
        telegramsDropped: { CRC_MISMATCH: 2 },
        bytes: 40_000,
        openFailures: 7,
        fanoutCutOff: 2,
        skippedBytes: 12,
      },
      lastTelegramAtMs: Date.UTC(2024, 0, 2, 3, 5),
    },
    {
      id: "garage",
      description: "tcp:10.0.0.5:2001",
      link: "connecting",
      version: null,
      encrypted: true,
      meters: [garage],
      counters: { ...zeroCounters(), reconnects: 3 },
      lastTelegramAtMs: null,
    },
  ];
  view.addEntities(ALL);
  view.publishState(numberState(tariff1.id, 4321.987));
  view.publishState(numberState(power.id, 0.25));
  view.publishState({ ...numberState(message.id, 0), value: "Test bericht", text: null, timestamp: null });
  view.publishState(numberState(gasReading.id, 3456.789));
  view.publishState(numberState(garageTariff1.id, 12));
  return view;
}

const ids = (states: readonly EntityStateMsg[]) => states.map((s) => s.entity_id);

describe("gRPC API: unary calls", () => {
  let view: MemoryView;
  let server: GrpcServer;
  beforeEach(async () => {
    view = homeView();
    server = await serve(view);
  });

  it("GetInfo reports name, version, sources with link state and counters", async () => {
    const info = await client(server).getInfo();
    expect(info.name).toBe("test-gateway");
    expect(info.version).toBe("0.0.0-test");
    expect(info.started_time).toEqual({ seconds: Math.floor(view.startedAtMs / 1000), nanos: 678_000_000 });
    expect(info.sources.map((s) => [s.id, s.link_state, s.protocol_version, s.encrypted])).toEqual([
      ["home", "LINK_STATE_OK", "5.0", false],
      ["garage", "LINK_STATE_CONNECTING", "", true],
    ]);
    expect(info.sources[0]?.meters.map((m) => [m.id, m.type, m.channel, m.equipment_id])).toEqual([
      ["electricity_0_e0012345", "METER_TYPE_ELECTRICITY", 0, "E0012345"],
      ["gas_1_g0034", "METER_TYPE_GAS", 1, "G0034"],
    ]);
    expect(info.sources[1]?.last_telegram_time).toBeNull();
    expect(info.counters).toMatchObject({
      telegrams_ok: 41,
      telegrams_dropped: { CRC_MISMATCH: 2 },
      bytes: 40_000,
      skipped_bytes: 12,
      reconnects: 3,
      open_failures: 7,
      fanout_cut_off: 2,
    });
  });

  it("GetInfo sends only the contract's fields, never a key the view might carry", async () => {
    const secret = "00112233445566778899AABBCCDDEEFF";
    // A careless view could hand over more than GatewayInfo declares; none of it may reach the wire.
    view.sources = view.sources.map((s) => Object.assign({ ...s }, { decryptionKey: secret }));
    const info = await client(server).getInfo();
    expect(JSON.stringify(info)).not.toContain(secret);
    expect(JSON.stringify(info)).not.toContain("decryption");
  });

  it("ListEntities carries every entity with its metadata", async () => {
    const entities = await client(server).listEntities();
    expect(entities.map((e) => e.id)).toEqual(ALL.map((e) => e.id));
    expect(entities.find((e) => e.id === power.id)).toEqual({
      id: "electricity_0_e0012345_emeter_current_delivery",
      name: power.name,
      meter: {
        id: "electricity_0_e0012345",
        source_id: "home",
        type: "METER_TYPE_ELECTRICITY",
        channel: 0,
        equipment_id: "E0012345",
      },
      obis: "1-0:1.7.0",
      unit: "kW",
      device_class: "power",
      state_class: "STATE_CLASS_MEASUREMENT",
      channel_name: "emeter_current_delivery",
      kind: "ENTITY_KIND_NUMBER",
      diagnostic: false,
      decimals: 3,
      source_id: "home",
    });
    expect(entities.find((e) => e.id === message.id)).toMatchObject({
      kind: "ENTITY_KIND_TEXT",
      unit: "",
      state_class: "STATE_CLASS_UNSPECIFIED",
      diagnostic: true,
    });
  });

  it("a failing view gives INTERNAL without its message", async () => {
    view.info = () => {
      throw new Error("secret internals at /src/gateway/gateway.ts:42");
    };
    const err = await client(server)
      .getInfo()
      .then(
        () => null,
        (e: { code: number; details: string }) => e,
      );
    expect(err?.code).toBe(status.INTERNAL);
    expect(err?.details).toBe("internal error");
  });
});

describe("gRPC API: StreamStates", () => {
  let view: MemoryView;
  let server: GrpcServer;
  beforeEach(async () => {
    view = homeView();
    server = await serve(view);
  });

  it("sends the current state of every entity, then each change in order", async () => {
    const call = client(server).streamStates();
    closers.push(() => call.cancel());
    const got = new Collector(call);
    await got.count(ALL.length);
    expect(ids(got.items)).toEqual(ALL.map((e) => e.id));
    const first = got.items[0];
    expect(first).toMatchObject({
      entity_id: tariff1.id,
      value: "number",
      number: 4321.987,
      raw: "004321.987",
      unit: "kWh",
      available: true,
      meter_time_iso: "2023-06-15T14:30:05+02:00",
      meter_time: { seconds: 1_686_832_205, nanos: 0 },
      received_time: { seconds: 1_700_000_000, nanos: 0 },
    });
    expect(got.items[2]).toMatchObject({ value: "text", text: "Test bericht", meter_time: null, unit: "" });

    for (let i = 1; i <= 50; i++) view.publishState(numberState(power.id, i / 10));
    view.publishState({ ...numberState(tariff1.id, 0), value: null, text: null, available: false });
    await got.count(ALL.length + 51);
    const live = got.items.slice(ALL.length);
    expect(live.slice(0, 50).map((s) => s.number)).toEqual(
      Array.from({ length: 50 }, (_, i) => (i + 1) / 10),
    );
    expect(live[50]).toMatchObject({ entity_id: tariff1.id, available: false });
    expect(live[50]?.value).toBeUndefined();
  });

  it.each([
    ["entity_ids", { entity_ids: [power.id, gasReading.id] }, [power.id, gasReading.id]],
    ["meter_ids", { meter_ids: [gas.id] }, [gasReading.id]],
    ["source_ids", { source_ids: ["garage"] }, [garageTariff1.id]],
    [
      "meter_ids and source_ids",
      { meter_ids: [home.id, garage.id], source_ids: ["garage"] },
      [garageTariff1.id],
    ],
    [
      "entity_ids and meter_ids",
      { entity_ids: [tariff1.id, gasReading.id], meter_ids: [home.id] },
      [tariff1.id],
    ],
  ])("filters by %s, in the snapshot and live", async (_name, request, expected) => {
    const call = client(server).streamStates(request);
    closers.push(() => call.cancel());
    const got = new Collector(call);
    await got.count(expected.length);
    expect(ids(got.items)).toEqual(expected);
    // Every entity changes once; only the expected ones arrive, and in publication order.
    for (const e of ALL) view.publishState(numberState(e.id, 99));
    await got.count(expected.length * 2);
    expect(ids(got.items.slice(expected.length))).toEqual(expected);
    // A marker published last arrives: nothing filtered out was merely late.
    const marker = expected[expected.length - 1] as string;
    view.publishState(numberState(marker, 100));
    await got.until((items) => items.at(-1)?.number === 100);
    expect(got.items).toHaveLength(expected.length * 2 + 1);
  });

  it("many streams with mixed filters each get exactly what their filter matches, in order", async () => {
    // The fan-out routes each state by index to the calls that can match; compare with the plain rule.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(from: readonly T[]): T[] => from.filter(() => random() < 0.4);
    const entityIds = [...ALL.map((e) => e.id), "unknown_entity"];
    const meterIds = [home.id, gas.id, garage.id, "unknown_meter"];
    const sourceIds = ["home", "garage", "elsewhere"];
    const requests = Array.from({ length: 40 }, (_, i) => {
      const request: { entity_ids?: string[]; meter_ids?: string[]; source_ids?: string[] } = {};
      if (i % 2 === 1) request.entity_ids = pick(entityIds);
      if (i % 3 === 1) request.meter_ids = pick(meterIds);
      if (i % 5 >= 3) request.source_ids = pick(sourceIds);
      return request;
    });
    const wanted = (r: (typeof requests)[number], entityId: string): boolean => {
      const e = ALL.find((x) => x.id === entityId);
      const ok = (list: string[] | undefined, id: string | undefined) =>
        list === undefined || list.length === 0 || (id !== undefined && list.includes(id));
      return ok(r.entity_ids, entityId) && ok(r.meter_ids, e?.meter.id) && ok(r.source_ids, e?.sourceId);
    };
    const c = client(server);
    const calls = requests.map((r) => {
      const call = c.streamStates(r);
      closers.push(() => call.cancel());
      return { r, got: new Collector(call), snapshot: ALL.filter((e) => wanted(r, e.id)).length };
    });
    await Promise.all(calls.map(({ got, snapshot }) => got.count(snapshot)));
    const published = Array.from({ length: 60 }, () => ALL[Math.floor(random() * ALL.length)]?.id ?? "");
    published.forEach((id, i) => {
      view.publishState(numberState(id, 1_000 + i));
    });
    const marker = 2_000;
    for (const { got, r, snapshot } of calls) {
      const expected = published.filter((id) => wanted(r, id));
      await got.count(snapshot + expected.length);
      expect(ids(got.items.slice(snapshot))).toEqual(expected);
      expect(got.items.slice(snapshot).map((s) => s.number)).toEqual(
        published.flatMap((id, i) => (wanted(r, id) ? [1_000 + i] : [])),
      );
    }
    // Nothing beyond: a last state every call wants arrives right after what was expected.
    for (const e of ALL) view.publishState(numberState(e.id, marker));
    for (const { got, r, snapshot } of calls) {
      const total = snapshot + published.filter((id) => wanted(r, id)).length;
      const last = ALL.filter((e) => wanted(r, e.id)).length;
      await got.count(total + last);
      expect(got.items.slice(total).map((s) => s.number)).toEqual(Array(last).fill(marker));
    }
  });

  it.each([
    [{ entity_ids: ["Electricity_0"] }, "entity_ids", "Electricity_0"],
    [{ meter_ids: ["gas-1"] }, "meter_ids", "gas-1"],
    [{ source_ids: ["home", ""] }, "source_ids", '""'],
    [{ entity_ids: ["x".repeat(129)] }, "entity_ids", "xxxx"],
  ])("rejects a malformed filter %j with INVALID_ARGUMENT naming the id", async (request, field, named) => {
    const err = await streamError(client(server).streamStates(request));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain(field);
    expect(err.details).toContain(named);
    expect(view.clients).toBe(0);
    expect(view.listenerCount("state")).toBe(0);
  });

  it("accepts well-formed unknown ids and streams a meter discovered later", async () => {
    const water = makeMeter("home", "water", 2, "W0077");
    const waterReading = makeEntity(water, "hourly_reading_water", { obis: "0-2:24.2.1", unit: "m3" });
    const call = client(server).streamStates({ meter_ids: [water.id] });
    closers.push(() => call.cancel());
    const got = new Collector(call);
    await subscribed(call);
    expect(got.items).toEqual([]);

    // The gateway stores the first state with the entity, then announces the entity.
    view.addEntities([waterReading]);
    view.publishState(numberState(waterReading.id, 1.5));
    view.publishState(numberState(tariff1.id, 5)); // another meter: filtered out
    view.publishState(numberState(waterReading.id, 1.6));
    await got.count(2);
    expect(got.items.map((s) => [s.entity_id, s.number, s.unit])).toEqual([
      [waterReading.id, 1.5, "m3"],
      [waterReading.id, 1.6, "m3"],
    ]);
  });

  it("a newly announced entity's states arrive once each, through its state events", async () => {
    const water = makeMeter("home", "water", 2, "W0077");
    const waterReading = makeEntity(water, "hourly_reading_water", { obis: "0-2:24.2.1", unit: "m3" });
    const call = client(server).streamStates({ source_ids: ["home"], meter_ids: [water.id] });
    closers.push(() => call.cancel());
    const got = new Collector(call);
    await subscribed(call);
    // As the gateway does: the telegram's states are stored, the entities announced, then each state emitted.
    view.storeState(numberState(waterReading.id, 7));
    view.addEntities([waterReading]);
    view.addEntities([waterReading]); // announced twice: nothing sent twice
    view.publishState(numberState(waterReading.id, 7));
    view.publishState(numberState(waterReading.id, 8));
    await got.count(2);
    view.publishState(numberState(waterReading.id, 9));
    await got.count(3);
    expect(got.items.map((s) => s.number)).toEqual([7, 8, 9]);
  });
});

describe("gRPC API: failures inside the gateway view", () => {
  it("a view failing during the snapshot ends the stream with a bare INTERNAL and releases it", async () => {
    const view = homeView();
    const server = await serve(view);
    view.states = () => {
      throw new Error("boom at /src/gateway/store.ts:1");
    };
    const err = await streamError(client(server).streamStates());
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe("internal error");
    await eventually(() => view.clients === 0, "the client count to drop");
    expect(view.listenerCount("state") + view.listenerCount("entities")).toBe(0);
  });

  it("the installed grpc-js has what batched stream writes use (no fallback warning)", async () => {
    const view = homeView();
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => warnings.push(m) };
    const server = await startGrpcServer(view, { host: "127.0.0.1", port: 0, logger });
    closers.push(() => server.stop());
    const call = client(server).streamStates();
    closers.push(() => call.cancel());
    await new Collector(call).count(ALL.length);
    expect(warnings).toEqual([]);
  });

  it("a failure while handling an event ends only that stream, logs the bug, and never reaches the emitter", async () => {
    const view = homeView();
    const lines: string[] = [];
    const logger = { ...silentLogger, error: (m: string) => lines.push(m) };
    const server = await startGrpcServer(view, { host: "127.0.0.1", port: 0, logger });
    closers.push(() => server.stop());
    const c = client(server);
    const filtered = c.streamStates({ meter_ids: [gas.id] });
    const other = c.streamTelegrams();
    closers.push(() => other.cancel());
    await Promise.all([subscribed(filtered), subscribed(other)]);
    const ended = streamError(filtered);
    // A state of the gas meter that fails to encode (a value that throws when read: a bug's stand-in).
    const broken = numberState(gasReading.id, 1);
    Object.defineProperty(broken, "value", {
      get() {
        throw new Error("boom at /src/gateway/store.ts:2");
      },
    });
    expect(() => view.publishState(broken)).not.toThrow();
    const err = await ended;
    expect(err.code).toBe(status.INTERNAL);
    expect(lines.join("\n")).toContain("boom at /src/gateway/store.ts:2");
    await eventually(() => view.clients === 1, "the failed stream to be released");
    expect(view.listenerCount("state")).toBe(0);
    expect(view.listenerCount("telegram")).toBe(1);
  });
});

describe("gRPC API: slow clients", () => {
  it("a client that stops reading neither delays a fast one nor grows the server's queue", async () => {
    const view = new MemoryView();
    const meter = makeMeter("home", "electricity", 0, "E1");
    const entities = Array.from({ length: 20 }, (_, i) => makeEntity(meter, `value_${i}`));
    view.addEntities(entities);
    for (const e of entities) view.publishState(numberState(e.id, 0));
    const MAX_QUEUE = 16;
    const server = await serve(view, MAX_QUEUE);
    const fastCall = client(server).streamStates();
    const slowCall = client(server).streamStates();
    closers.push(
      () => fastCall.cancel(),
      () => slowCall.cancel(),
    );
    const fast = new Collector(fastCall);
    const slow = new Collector(slowCall);
    await Promise.all([fast.count(entities.length), slow.count(entities.length)]);
    // The slow client reads its snapshot, then stops: grpc-js stops reading the HTTP/2 stream once its
    // buffer is full, and flow control pushes back on the server. (A grpc-js call that never starts
    // reading buffers without bound on the client side instead, so the snapshot is read first.)
    slowCall.pause();

    const ROUNDS = 400;
    let maxQueued = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const e of entities) view.publishState(numberState(e.id, round));
      maxQueued = Math.max(maxQueued, server.queuedMessages());
      // The fast client gets each round while the slow one holds nothing up.
      await fast.count((round + 1) * entities.length);
    }
    const expected = Array.from({ length: ROUNDS + 1 }, (_, r) => entities.map((e) => [e.id, r])).flat();
    expect(fast.items.map((s) => [s.entity_id, s.number])).toEqual(expected);
    // Fast: at most one round waits; slow: at most the cap, then one state per entity.
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUE + Math.max(MAX_QUEUE, entities.length));
    // The slow client really was slow: it fell far behind and states were coalesced for it.
    expect(slow.items.length).toBeLessThan((ROUNDS * entities.length) / 2);
    expect(view.coalesced).toBeGreaterThan(0);

    // The slow client reads again: it ends up with the latest state of every entity, each entity's
    // states in order, and every published state was either delivered or counted as coalesced.
    const last = new Map<string, number>();
    let seen = 0;
    slowCall.resume();
    await slow.until((items) => {
      for (; seen < items.length; seen++) {
        const s = items[seen];
        if (s) last.set(s.entity_id, s.number ?? -1);
      }
      return entities.every((e) => last.get(e.id) === ROUNDS);
    });
    for (const e of entities) {
      const values = slow.items.filter((s) => s.entity_id === e.id).map((s) => s.number ?? -1);
      expect(values).toEqual([...values].sort((x, y) => x - y));
      expect(new Set(values).size).toBe(values.length);
    }
    expect(slow.items.length + view.coalesced).toBe((ROUNDS + 1) * entities.length);
    expect(server.queuedMessages()).toBe(0);
  });

  it("a slow telegram client keeps at most maxQueuePerClient telegrams, dropping the oldest", async () => {
    const view = homeView();
    const MAX_QUEUE = 4;
    const server = await serve(view, MAX_QUEUE);
    const call = client(server).streamTelegrams();
    closers.push(() => call.cancel());
    const got = new Collector(call);
    await subscribed(call);
    const raw = fixture("dsmr50.txt");
    const telegram = parseOk(raw);
    const publish = (i: number) =>
      view.publishTelegram({ sourceId: "home", receivedAtMs: i * 1000, raw, telegram, encrypted: false });
    publish(1);
    await got.count(1);
    call.pause();

    const COUNT = 300;
    let maxQueued = 0;
    for (let i = 2; i <= COUNT; i++) {
      publish(i);
      maxQueued = Math.max(maxQueued, server.queuedMessages());
      // Let the server drain what the client's flow-control window still takes.
      await new Promise((r) => setImmediate(r));
    }
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUE);
    expect(got.items.length).toBeLessThan(COUNT / 2);
    expect(view.coalesced).toBeGreaterThan(0);

    call.resume();
    await got.until((items) => items.at(-1)?.received_time?.seconds === COUNT);
    const seconds = got.items.map((t) => t.received_time?.seconds ?? 0);
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    expect(got.items.length + view.coalesced).toBe(COUNT);
  });
});

describe("gRPC API: stream lifecycle", () => {
  it("200 streams opened and cancelled leave no listener and no client behind", async () => {
    const view = homeView();
    const server = await serve(view);
    const baseline = {
      state: view.listenerCount("state"),
      entities: view.listenerCount("entities"),
      telegram: view.listenerCount("telegram"),
    };
    const c = client(server);
    const calls = Array.from({ length: 200 }, (_, i) =>
      i % 4 === 3 ? c.streamTelegrams() : c.streamStates(i % 2 === 0 ? {} : { source_ids: ["home"] }),
    );
    for (const call of calls) call.on("error", () => {}); // cancellation surfaces as CANCELLED
    await Promise.all(calls.map((call) => subscribed(call)));
    expect(view.clients).toBe(200);
    // One 'state' listener serves every StreamStates call (each state's entity is looked up once).
    expect(view.listenerCount("state")).toBe(baseline.state + 1);
    expect(view.listenerCount("entities")).toBe(baseline.entities); // lookups go through view.entity()
    expect(view.listenerCount("telegram")).toBe(baseline.telegram + 50);

    for (const call of calls) call.cancel();
    await eventually(
      () =>
        view.clients === 0 &&
        view.listenerCount("state") === baseline.state &&
        view.listenerCount("entities") === baseline.entities &&
        view.listenerCount("telegram") === baseline.telegram,
      "streams to be released",
    );
    expect(view.maxClients).toBe(200);
    expect(view.underflows).toBe(0);
    // Releasing is complete: publishing after the cancellations reaches no one and breaks nothing.
    view.publishState(numberState(tariff1.id, 1));
    expect(server.queuedMessages()).toBe(0);
  });

  it("stop ends open streams with UNAVAILABLE, releases the view, and is idempotent", async () => {
    const view = homeView();
    const server = await startGrpcServer(view, { host: "127.0.0.1", port: 0 });
    const c = client(server);
    const states = c.streamStates();
    const telegrams = c.streamTelegrams();
    await Promise.all([subscribed(states), subscribed(telegrams)]);
    const ended = Promise.all([streamError(states), streamError(telegrams)]);
    await Promise.all([server.stop(), server.stop()]);
    const [e1, e2] = await ended;
    expect([e1.code, e2.code]).toEqual([status.UNAVAILABLE, status.UNAVAILABLE]);
    expect(view.clients).toBe(0);
    expect(
      view.listenerCount("state") + view.listenerCount("telegram") + view.listenerCount("entities"),
    ).toBe(0);
    await server.stop();
    const after = new GatewayTestClient(server.address);
    closers.push(() => after.close());
    await expect(after.getInfo()).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it("StreamTelegrams rejects a malformed source id and accepts a configured one not seen yet", async () => {
    const view = homeView();
    const server = await serve(view);
    const err = await streamError(client(server).streamTelegrams(["Home"]));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain('"Home"');
    expect(view.clients).toBe(0);
    // Source ids come from the configuration, which allows '-'.
    const call = client(server).streamTelegrams(["living-room"]);
    closers.push(() => call.cancel());
    await subscribed(call);
    expect(view.clients).toBe(1);
  });
});

describe("gRPC API: StreamTelegrams", () => {
  it("carries the raw bytes untouched and the parsed objects, filtered by source", async () => {
    const view = homeView();
    const server = await serve(view);
    const homeOnly = client(server).streamTelegrams(["home"]);
    const every = client(server).streamTelegrams();
    closers.push(
      () => homeOnly.cancel(),
      () => every.cancel(),
    );
    const homeGot = new Collector(homeOnly);
    const everyGot = new Collector(every);
    await Promise.all([subscribed(homeOnly), subscribed(every)]);

    const garageRaw = fixture("dsmr42.txt");
    const raw = fixture("dsmr50.txt");
    const telegram = parseOk(raw);
    const event: TelegramEvent = {
      sourceId: "home",
      receivedAtMs: 1_700_000_000_250,
      raw,
      telegram,
      encrypted: false,
    };
    view.publishTelegram({ ...event, sourceId: "garage", raw: garageRaw, telegram: parseOk(garageRaw) });
    view.publishTelegram(event);
    await Promise.all([homeGot.count(1), everyGot.count(2)]);
    expect(everyGot.items.map((t) => t.source_id)).toEqual(["garage", "home"]);
    expect(Buffer.compare(everyGot.items[0]?.raw ?? Buffer.alloc(0), garageRaw)).toBe(0);

    const t = homeGot.items[0];
    if (!t) throw new Error("no telegram");
    expect(t.source_id).toBe("home");
    expect(Buffer.compare(t.raw, raw)).toBe(0);
    expect(t).toMatchObject({
      version: "5.0",
      header: "ISK5\\2M550T-1012",
      crc: "CRC_STATUS_VALID",
      encrypted: false,
      received_time: { seconds: 1_700_000_000, nanos: 250_000_000 },
    });
    expect(t.objects.map((o) => o.obis)).toEqual(telegram.objects.map((o) => o.obis));
    const obj = (obis: string) => t.objects.find((o) => o.obis === obis);
    expect(obj("1-0:1.8.1")).toMatchObject({
      value: "number",
      number: 4321.987,
      raw: "004321.987",
      unit: "kWh",
    });
    expect(obj("0-0:96.13.0")).toMatchObject({ value: "text", text: "Test bericht" });
    expect(obj("0-0:1.0.0")).toMatchObject({
      value: "timestamp",
      timestamp: { iso: "2023-06-15T14:30:05+02:00", time: { seconds: 1_686_832_205, nanos: 0 } },
    });
    expect(obj("0-2:24.2.1")).toMatchObject({
      value: "number",
      number: 123.456,
      channel: 2,
      unit: "m3",
      reading_time: { iso: "2023-06-15T14:25:00+02:00", raw: "230615142500S" },
    });
    expect(obj("1-0:99.97.0")?.power_failure_log?.entries.map((e) => e.duration_s)).toEqual([360, 1800]);
  });
});

describe("gRPC API: standard services", () => {
  it("serves health: SERVING for '' and the gateway, NOT_SERVING once stopping", async () => {
    const server = await serve(new MemoryView());
    const health = new HealthTestClient(server.address);
    closers.push(() => health.close());
    expect(await health.check("")).toBe("SERVING");
    expect(await health.check(GATEWAY_SERVICE)).toBe("SERVING");
    const watch = health.watch(GATEWAY_SERVICE);
    const seen = new Collector(watch);
    await seen.count(1);
    expect(seen.items[0]?.status).toBe("SERVING");
    const stopped = server.stop();
    await seen.until((items) => items.at(-1)?.status === "NOT_SERVING");
    watch.cancel();
    await stopped;
  });

  it.each(["v1", "v1alpha"] as const)(
    "answers reflection %s, completely enough to call the service without the .proto",
    async (version) => {
      const server = await serve(homeView());
      const reflection = new ReflectionTestClient(server.address, version);
      closers.push(() => reflection.close());
      const list = await reflection.ask({ list_services: "*" });
      expect(list.list_services_response?.service.map((s) => s.name).sort()).toEqual([
        "grpc.health.v1.Health",
        GATEWAY_SERVICE,
      ]);

      const files = await reflection.ask({ file_containing_symbol: GATEWAY_SERVICE });
      const protos = files.file_descriptor_response?.file_descriptor_proto ?? [];
      // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`: field 1, length-delimited (tag 10).
      const set = protobuf.Writer.create();
      for (const file of protos) set.uint32(10).bytes(file);
      const root = protobuf.Root.fromDescriptor(set.finish());
      const service = root.lookupService(GATEWAY_SERVICE);
      expect(Object.keys(service.methods)).toEqual([
        "GetInfo",
        "ListEntities",
        "StreamStates",
        "StreamTelegrams",
        "GetDiagnostics",
      ]);

      // A client knowing only what reflection said decodes a real answer, Timestamp import included.
      const infoType = root.lookupType("p1gateway.v1.GatewayInfo");
      const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
      closers.push(() => raw.close());
      const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
        raw.makeUnaryRequest(
          "/p1gateway.v1.Gateway/GetInfo",
          () => Buffer.alloc(0),
          (b: Buffer) => infoType.toObject(infoType.decode(b), { longs: Number, enums: String }),
          {},
          (err, value) => (err || value === undefined ? reject(err) : resolve(value)),
        );
      });
      expect(info).toMatchObject({ name: "test-gateway", started_time: { seconds: 1_704_164_645 } });
    },
  );
});
