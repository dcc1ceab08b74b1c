import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  fnv1Hash,
  type NativeApiServer,
  type NativeApiServerOptions,
  startNativeApiServer,
} from "../../../src/api/native/index.ts";
import type { Logger } from "../../../src/shared/index.ts";
import { closeAfterEach } from "../../helpers/closers.ts";
import { MemoryView, makeEntity, makeMeter, numberState, zeroCounters } from "../../helpers/view.ts";
import { eventually, RawClient, ThirdPartyClient } from "./helpers.ts";

const closers = closeAfterEach();

const home = makeMeter("home", "electricity", 0, "E0012345");
const gas = makeMeter("home", "gas", 1, "G0034");
const tariff1 = makeEntity(home, "emeter_delivery_tariff1", { name: "Energy delivered tariff 1" });
const power = makeEntity(home, "emeter_current_delivery", {
  name: "Power delivered",
  obis: "1-0:1.7.0",
  unit: "kW",
  deviceClass: "power",
  stateClass: "measurement",
});
const message = makeEntity(home, "text_message", {
  name: "Text message",
  obis: "0-0:96.13.0",
  kind: "text",
  unit: null,
  deviceClass: null,
  stateClass: null,
  decimals: null,
  diagnostic: true,
});
const gasReading = makeEntity(gas, "hourly_reading_gas", {
  name: "Gas delivered",
  obis: "0-1:24.2.1",
  unit: "m3",
  deviceClass: "gas",
});

function homeView(): MemoryView {
  const view = new MemoryView();
  view.sources = [
    {
      id: "home",
      description: "simulator:5.0",
      link: "ok",
      version: "5.0",
      encrypted: false,
      meters: [home, gas],
      counters: zeroCounters(),
      lastTelegramAtMs: null,
    },
  ];
  view.addEntities([tariff1, power, message, gasReading]);
  view.publishState(numberState(tariff1.id, 12_345.678));
  view.publishState(numberState(power.id, 1.234));
  view.publishState({ ...numberState(message.id, 0), value: "hello meter", text: "hello meter" });
  return view;
}

interface LogLines extends Logger {
  readonly lines: string[];
}

function recordingLogger(): LogLines {
  const lines: string[] = [];
  const logger: LogLines = {
    lines,
    debug: () => {},
    info: () => {},
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    child: () => logger,
  };
  return logger;
}

async function serve(view: MemoryView, over: Partial<NativeApiServerOptions> = {}): Promise<NativeApiServer> {
  const server = await startNativeApiServer(view, {
    host: "127.0.0.1",
    port: 0,
    name: "p1-test",
    friendlyName: "P1 Test",
    mac: "02:00:00:aa:bb:cc",
    model: "DSMR 5.0",
    projectVersion: "0.1.0",
    ...over,
  });
  closers.push(() => server.stop());
  return server;
}

function thirdParty(server: NativeApiServer, key?: Buffer): ThirdPartyClient {
  const c = new ThirdPartyClient(server.port, key);
  closers.push(() => c.close());
  return c;
}

async function raw(server: NativeApiServer): Promise<RawClient> {
  const c = await RawClient.open(server.port);
  closers.push(() => c.close());
  return c;
}

const TARIFF1_OID = tariff1.id;

async function checkFullSession(server: NativeApiServer, view: MemoryView, key?: Buffer): Promise<void> {
  const c = thirdParty(server, key);
  await eventually(() => c.initialized, "client initialized");
  expect(c.deviceInfo).toMatchObject({
    name: "p1-test",
    friendlyName: "P1 Test",
    macAddress: "02:00:00:AA:BB:CC",
    model: "DSMR 5.0",
    manufacturer: "p1-gateway",
    projectVersion: "0.1.0",
    apiEncryptionSupported: false, // key provisioning (messages 124/125) is not implemented
  });
  const t1 = c.entity(TARIFF1_OID);
  expect(t1.type).toBe("Sensor");
  expect(t1.config).toMatchObject({
    key: fnv1Hash(TARIFF1_OID),
    name: "Energy delivered tariff 1",
    unitOfMeasurement: "kWh",
    deviceClass: "energy",
    stateClass: 2,
    accuracyDecimals: 3,
    entityCategory: 0,
  });
  expect(c.entity(power.id).config).toMatchObject({
    unitOfMeasurement: "kW",
    deviceClass: "power",
    stateClass: 1,
  });
  expect(c.entity(gasReading.id).config).toMatchObject({ unitOfMeasurement: "m³", deviceClass: "gas" });
  expect(c.entity(message.id).type).toBe("TextSensor");
  expect(c.entity(message.id).config).toMatchObject({ entityCategory: 2 });
  const link = c.entity("home_link_ok");
  expect(link.type).toBe("BinarySensor");
  expect(link.config).toMatchObject({ deviceClass: "connectivity", entityCategory: 2 });

  // Initial states: known values, missing for the gas reading that has none yet.
  await eventually(() => c.lastState(gasReading.id) !== undefined, "initial states");
  expect(c.lastState(TARIFF1_OID)?.state).toBeCloseTo(12_345.678, 2);
  expect(c.lastState(message.id)).toMatchObject({ state: "hello meter", missingState: false });
  expect(c.lastState(gasReading.id)).toMatchObject({ missingState: true });
  expect(c.lastState("home_link_ok")).toMatchObject({ state: true });

  // Live updates: a number, an entity going unavailable, the link.
  view.publishState(numberState(power.id, 2.5));
  await eventually(() => c.lastState(power.id)?.state === 2.5, "live power update");
  view.publishState({ ...numberState(TARIFF1_OID, 0), value: null, available: false });
  await eventually(() => c.lastState(TARIFF1_OID)?.missingState === true, "unavailable → missing state");
  view.emit("link", "home", "stale");
  await eventually(() => c.lastState("home_link_ok")?.state === false, "link down");
  expect(c.errors).toEqual([]);
}

describe("native API server with @2colors/esphome-native-api", () => {
  it("serves device info, entities, states and live updates in plaintext", async () => {
    const view = homeView();
    const server = await serve(view);
    await checkFullSession(server, view);
    expect(view.clients).toBe(1);
  });

  it("does the same over Noise with the right key", async () => {
    const view = homeView();
    const key = randomBytes(32);
    const server = await serve(view, { encryptionKey: key });
    await checkFullSession(server, view, key);
  });

  it("drops a client with the wrong key and keeps serving another", async () => {
    const view = homeView();
    const key = randomBytes(32);
    const logger = recordingLogger();
    const server = await serve(view, { encryptionKey: key, logger });
    const bad = thirdParty(server, randomBytes(32));
    const good = thirdParty(server, key);
    await eventually(() => good.initialized, "good client initialized");
    await eventually(() => bad.errors.length > 0, "bad client error");
    expect(bad.initialized).toBe(false);
    expect(String(bad.errors[0]?.message)).toMatch(/Handshake MAC failure/);
    expect(logger.lines.filter((l) => l.includes("DECRYPT_FAILED"))).toHaveLength(1);
    view.publishState(numberState(power.id, 3.5));
    await eventually(() => good.lastState(power.id)?.state === 3.5, "good client keeps getting states");
  });

  it("serves several clients at once and releases them on close", async () => {
    const view = homeView();
    const server = await serve(view);
    const a = thirdParty(server);
    const b = thirdParty(server);
    await eventually(() => a.initialized && b.initialized, "both initialized");
    expect(view.maxClients).toBe(2);
    view.publishState(numberState(power.id, 4.25));
    await eventually(
      () => a.lastState(power.id)?.state === 4.25 && b.lastState(power.id)?.state === 4.25,
      "both updated",
    );
    a.close();
    b.close();
    await eventually(() => server.connections() === 0 && view.clients === 0, "connections released");
    expect(view.underflows).toBe(0);
  });

  it("asks connected clients to disconnect on stop and closes them", async () => {
    const view = homeView();
    const server = await serve(view);
    const c = thirdParty(server);
    await eventually(() => c.initialized, "client initialized");
    await server.stop();
    expect(server.connections()).toBe(0);
    expect(view.clients).toBe(0);
    await eventually(() => !c.client.connection.connected, "client disconnected");
  });

  it("follows the view only while a client is connected, and not after stop", async () => {
    const view = homeView();
    const before = view.listenerCount("state");
    const server = await serve(view);
    // A device without clients (most of a gateway's thousands) listens to nothing.
    expect(view.listenerCount("state")).toBe(before);
    expect(view.listenerCount("link")).toBe(0);
    expect(view.listenerCount("entities")).toBe(0);
    const a = thirdParty(server);
    await eventually(() => a.initialized, "client initialized");
    expect(view.listenerCount("state")).toBe(before + 1);
    expect(view.listenerCount("link")).toBe(1);
    a.close();
    await eventually(() => server.connections() === 0, "client gone");
    expect(view.listenerCount("state")).toBe(before);
    expect(view.listenerCount("link")).toBe(0);
    // The next client sees what happened while nobody was connected.
    const later = makeEntity(home, "emeter_delivery_tariff2", { name: "Energy delivered tariff 2" });
    view.addEntities([later]);
    view.publishState(numberState(later.id, 12.5));
    view.sources = view.sources.map((s) => ({ ...s, link: "stale" }));
    view.emit("link", "home", "stale");
    const b = thirdParty(server);
    await eventually(() => b.initialized, "second client initialized");
    await eventually(() => b.lastState(later.id)?.state === 12.5, "state published while nobody listened");
    await eventually(() => b.lastState("home_link_ok") !== undefined, "link state");
    expect(b.lastState("home_link_ok")).toMatchObject({ state: false, missingState: false });
    await server.stop();
    expect(view.listenerCount("state")).toBe(before);
    expect(view.listenerCount("link")).toBe(0);
    expect(view.listenerCount("entities")).toBe(0);
  });
});

describe("native API server with a raw socket", () => {
  it("answers hello, authentication, ping, time and disconnect", async () => {
    const server = await serve(homeView(), { now: () => 1_700_000_000_123 });
    const c = await raw(server);
    c.send("HelloRequest", { client_info: "raw", api_version_major: 1, api_version_minor: 15 });
    c.send("AuthenticationRequest", {});
    expect((await c.waitFor("HelloResponse")).fields).toMatchObject({
      api_version_major: 1,
      api_version_minor: 14,
      name: "p1-test",
    });
    expect((await c.waitFor("AuthenticationResponse")).fields).toMatchObject({ invalid_password: false });
    c.send("PingRequest");
    await c.waitFor("PingResponse");
    c.send("GetTimeRequest");
    expect((await c.waitFor("GetTimeResponse")).fields).toMatchObject({ epoch_seconds: 1_700_000_000 });
    c.send("SubscribeLogsRequest", { level: 5 });
    c.send("SubscribeHomeassistantServicesRequest");
    c.send("SubscribeHomeAssistantStatesRequest");
    c.send("DisconnectRequest");
    await c.waitFor("DisconnectResponse");
    await c.waitClosed();
  });

  it("skips unknown message types without dropping the connection", async () => {
    const server = await serve(homeView());
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    c.send("PingRequest", {}, 30); // id 30 (a switch command) is not in the subset
    c.send("PingRequest", {}, 4_000);
    c.send("ListEntitiesRequest");
    await c.waitFor("ListEntitiesDoneResponse");
    const listed = c.received.filter(
      (m) => m.name?.startsWith("ListEntities") && m.name !== "ListEntitiesDoneResponse",
    );
    expect(listed).toHaveLength(5);
    expect(c.closed).toBe(false);
  });

  it("pings an idle client and drops it when it never answers", async () => {
    const server = await serve(homeView(), { keepaliveMs: 100 });
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    await c.waitFor("PingRequest", 2_000);
    await c.waitClosed(2_000);
    expect(server.connections()).toBe(0);
  });

  it("keeps a client that answers pings", async () => {
    const server = await serve(homeView(), { keepaliveMs: 100 });
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitFor("HelloResponse");
    let answered = 0;
    c.socket.on("data", () => {
      const pings = c.received.filter((m) => m.name === "PingRequest").length;
      while (answered < pings) {
        c.send("PingResponse");
        answered++;
      }
    });
    await eventually(() => answered >= 3, "three pings answered", 3_000);
    expect(c.closed).toBe(false);
  });

  it.each([
    ["a bad varint", Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01])],
    ["a length over the cap", Buffer.from([0x00, 0x80, 0x80, 0x04, 0x01])],
    ["garbage before hello", Buffer.from("GET / HTTP/1.1\r\n\r\n")],
    ["a Noise hello on a plaintext server", Buffer.from([0x01, 0x00, 0x00])],
    ["a HelloRequest that does not parse", Buffer.from([0x00, 0x01, 0x01, 0xff])],
  ])("closes only the connection that sends %s, with one log line", async (_what, bytes) => {
    const logger = recordingLogger();
    const server = await serve(homeView(), { logger });
    const other = await raw(server);
    other.send("HelloRequest");
    await other.waitFor("HelloResponse");
    const c = await raw(server);
    c.write(bytes);
    await c.waitClosed();
    expect(logger.lines).toHaveLength(1);
    other.send("PingRequest");
    await other.waitFor("PingResponse");
    expect(other.closed).toBe(false);
  });

  it("accepts a client that reports API 0.0 and waits for each answer before the next request", async () => {
    const server = await serve(homeView());
    const c = await raw(server);
    c.send("HelloRequest", { client_info: "old client" }); // api_version_major/minor absent = 0.0
    expect((await c.waitFor("HelloResponse")).fields).toMatchObject({ api_version_major: 1 });
    c.send("AuthenticationRequest", { password: "" });
    expect((await c.waitFor("AuthenticationResponse")).fields).toMatchObject({ invalid_password: false });
    c.send("DeviceInfoRequest");
    expect((await c.waitFor("DeviceInfoResponse")).fields).toMatchObject({
      name: "p1-test",
      mac_address: "02:00:00:AA:BB:CC",
      api_encryption_supported: false,
    });
    c.send("SubscribeStatesRequest");
    await c.waitFor("SensorStateResponse");
    expect(c.closed).toBe(false);
  });

  it.each([
    ["a plaintext hello", Buffer.from([0x00, 0x00, 0x01]), "Bad indicator byte"],
    ["garbage before the hello", Buffer.from("GET / HTTP/1.1\r\n\r\n"), "Bad indicator byte"],
    [
      "a handshake frame over 128 bytes",
      Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x01, 0x00, 0x81]), Buffer.alloc(0x81)]),
      "Bad handshake packet len",
    ],
    [
      "a handshake with a bad error byte",
      Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x01, 0x00, 0x31, 0x07]), Buffer.alloc(0x30)]),
      "Bad handshake error byte",
    ],
    [
      "a handshake message of the wrong size",
      Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00]), Buffer.alloc(4)]),
      "Handshake error",
    ],
  ])(
    "an encrypted server rejects %s, closes only that connection with one log line",
    async (_what, bytes, reason) => {
      const view = homeView();
      const key = randomBytes(32);
      const logger = recordingLogger();
      const server = await serve(view, { encryptionKey: key, logger });
      const good = thirdParty(server, key);
      await eventually(() => good.initialized, "encrypted client initialized");
      const c = await raw(server);
      c.write(bytes);
      await c.waitClosed();
      // The rejection is the last Noise frame the server wrote: 0x01, size, 0x01, reason.
      expect(c.raw.subarray(-reason.length).toString()).toBe(reason);
      expect(logger.lines).toHaveLength(1);
      view.publishState(numberState(power.id, 7.75));
      await eventually(() => good.lastState(power.id)?.state === 7.75, "the other client is still served");
      expect(server.connections()).toBe(1);
    },
  );

  it("answers a plaintext client on an encrypted server with the Noise rejection", async () => {
    const logger = recordingLogger();
    const server = await serve(homeView(), { encryptionKey: randomBytes(32), logger });
    const c = await raw(server);
    c.send("HelloRequest");
    await c.waitClosed();
    expect(c.raw).toEqual(
      Buffer.concat([Buffer.from([0x01, 0x00, 0x13, 0x01]), Buffer.from("Bad indicator byte")]),
    );
    expect(logger.lines).toHaveLength(1);
  });

  it("sends the Noise server hello with name and MAC", async () => {
    const server = await serve(homeView(), { encryptionKey: randomBytes(32) });
    const c = await raw(server);
    c.write(Buffer.from([0x01, 0x00, 0x00]));
    const hello = Buffer.concat([Buffer.from([0x01]), Buffer.from("p1-test\0" + "020000aabbcc\0")]);
    await eventually(() => c.raw.length >= 3 + hello.length, "server hello");
    expect(c.raw).toEqual(Buffer.concat([Buffer.from([0x01, 0x00, hello.length]), hello]));
  });

  it("asks listed clients to reconnect when the entity set changes", async () => {
    const view = homeView();
    const server = await serve(view);
    const c = await raw(server);
    c.send("HelloRequest");
    c.send("ListEntitiesRequest");
    await c.waitFor("ListEntitiesDoneResponse");
    view.addEntities([makeEntity(home, "emeter_delivery_tariff2")]);
    await c.waitFor("DisconnectRequest");
    c.send("DisconnectResponse");
    await c.waitClosed();
  });
});
