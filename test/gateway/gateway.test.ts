import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Simulator, type SimulatorOptions, simulate } from "../../simulator/index.ts";
import { type EntityState, Gateway, type LinkState } from "../../src/gateway/index.ts";
import { gcmImplementation } from "../../src/gateway/native-gcm.ts";
import { createLogger } from "../../src/shared/index.ts";
import { StreamSource } from "../../src/transport/stream.ts";

const KEY = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");

/** A gateway on one stream source the test pushes bytes into; logs and events are collected. */
async function harness(options: { receivedTimeoutS?: number; key?: Buffer } = {}) {
  const stream = new Readable({ read() {} });
  const logs: string[] = [];
  const gateway = new Gateway({
    name: "test",
    version: "0.0.0",
    sources: [
      {
        id: "home",
        source: new StreamSource(stream, "test stream"),
        ...(options.receivedTimeoutS === undefined ? {} : { receivedTimeoutS: options.receivedTimeoutS }),
        ...(options.key ? { decoder: { decryptionKey: options.key } } : {}),
      },
    ],
    logger: createLogger("p1", { sink: (l) => logs.push(l), level: "debug" }),
  });
  const states: EntityState[] = [];
  const links: LinkState[] = [];
  // Each state comes with its entity, the gateway's own (adapters route by it without a lookup).
  const wrongEntities: string[] = [];
  gateway.on("state", (s, entity) => {
    if (entity.id !== s.entityId || gateway.entity(s.entityId) !== entity) wrongEntities.push(s.entityId);
    states.push(s);
  });
  gateway.on("link", (_id, l) => links.push(l));
  gateway.start();
  await new Promise((r) => process.nextTick(r)); // the stream starts flowing; later pushes arrive at once
  return {
    gateway,
    push: (b: Buffer) => stream.push(b),
    end: () => stream.push(null),
    states,
    wrongEntities,
    links,
    logs,
  };
}

const dataOf = (options: SimulatorOptions, simulator = new Simulator(options)) =>
  [...simulate(options, simulator)].flatMap((e) => (e.kind === "data" ? [e.bytes] : []));

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2024, 0, 15, 12) });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Gateway", () => {
  it("turns simulated telegrams into states equal to the simulator's values", async () => {
    const h = await harness();
    expect(h.gateway.info().sources[0]?.lastTelegramAtMs).toBeNull(); // none yet
    const sim = new Simulator({ version: "5.0", seed: 7, count: 5 });
    const model: number[] = [];
    while (!sim.done) {
      const { telegram, events } = sim.next();
      const delivery = telegram.objects.find((o) => o.name === "emeter_delivery_tariff1")?.value;
      if (delivery?.kind === "decimal") model.push(delivery.value);
      for (const e of events) if (e.kind === "data") h.push(e.bytes);
    }
    const published = h.states
      .filter((s) => s.entityId.endsWith("_emeter_delivery_tariff1"))
      .map((s) => s.value);
    // A register is published when it changes: the simulator's values, repeats left out.
    const changes = model.filter((v, i) => i === 0 || v !== model[i - 1]);
    expect(model.length).toBe(5);
    expect(published.length).toBe(changes.length);
    for (const [i, v] of published.entries()) expect(v).toBeCloseTo(changes[i] as number, 3);
    const latest = h.gateway.states().find((s) => s.entityId.endsWith("_emeter_delivery_tariff1"));
    expect(latest?.value).toBeCloseTo(model[4] as number, 3);
    const info = h.gateway.info();
    expect(info.sources[0]).toMatchObject({ link: "ok", version: "5.0", encrypted: false });
    expect(info.sources[0]?.lastTelegramAtMs).toBe(Date.now()); // the (fake) clock's time
    expect(info.counters.telegramsOk).toBe(5);
    expect(h.wrongEntities).toEqual([]);
    expect(h.gateway.entities().length).toBeGreaterThan(20);
    await h.gateway.stop();
  });

  it("receivedTimeout marks the source stale and its entities unavailable, logged once; a telegram restores them", async () => {
    const h = await harness({ receivedTimeoutS: 120 });
    const [first, second] = dataOf({ version: "5.0", seed: 1, count: 2 });
    h.push(first as Buffer);
    const entities = h.gateway.entities().length;
    h.states.length = 0;
    vi.advanceTimersByTime(119_000);
    expect(h.states).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(h.links.at(-1)).toBe("stale");
    expect(h.states.length).toBe(entities);
    expect(h.states.every((s) => !s.available && s.value === null)).toBe(true);
    vi.advanceTimersByTime(600_000);
    expect(h.states.length).toBe(entities); // once, not every period
    expect(h.wrongEntities).toEqual([]); // telegrams' states and the timeout's alike
    expect(h.logs.filter((l) => l.includes("no valid telegram")).length).toBe(1);
    expect(h.gateway.states().every((s) => !s.available)).toBe(true);
    h.push(second as Buffer);
    expect(h.links.at(-1)).toBe("ok");
    expect(h.gateway.states().every((s) => s.available)).toBe(true);
    expect(h.logs.some((l) => l.includes("arriving again"))).toBe(true);
    await h.gateway.stop();
  });

  it("receivedTimeout counts from the last valid telegram, however many came before", async () => {
    const h = await harness({ receivedTimeoutS: 120 });
    const telegrams = dataOf({ version: "5.0", seed: 2, count: 4 });
    h.push(telegrams[0] as Buffer);
    vi.advanceTimersByTime(60_000);
    h.push(telegrams[1] as Buffer);
    vi.advanceTimersByTime(40_000);
    h.push(telegrams[2] as Buffer); // at 100 s: stale at 220 s, not at 120 s or 180 s
    vi.advanceTimersByTime(119_999);
    expect(h.links.at(-1)).toBe("ok");
    expect(h.gateway.states().every((s) => s.available)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(h.links.at(-1)).toBe("stale");
    expect(h.gateway.states().every((s) => !s.available)).toBe(true);
    h.push(telegrams[3] as Buffer);
    expect(h.links.at(-1)).toBe("ok");
    vi.advanceTimersByTime(119_999);
    expect(h.links.at(-1)).toBe("ok");
    vi.advanceTimersByTime(1);
    expect(h.links.at(-1)).toBe("stale");
    expect(h.logs.filter((l) => l.includes("no valid telegram")).length).toBe(2);
    await h.gateway.stop();
  });

  it("accounts for every telegram: valid ones plus drops by error code match what the simulator injected", async () => {
    const h = await harness();
    const options: SimulatorOptions = {
      version: "5.0",
      seed: 3,
      count: 300,
      faults: { crc: 0.1, truncate: 0.05, garbage: 0.1, chunk: 0.1, drop: 0.05 },
    };
    const sim = new Simulator(options);
    for (const bytes of dataOf(options, sim)) h.push(bytes);
    h.end();
    await vi.advanceTimersByTimeAsync(10_000);
    const counters = h.gateway.info().counters;
    const expected = sim.log.expected();
    expect(counters.telegramsDropped).toEqual(expected);
    const dropped = Object.values(counters.telegramsDropped).reduce((a, b) => a + b, 0);
    expect(counters.telegramsOk + dropped).toBe(300);
    expect(counters.skippedBytes).toBeGreaterThan(0);
    // Drops are logged, but repeats are rate-limited rather than one line per telegram.
    expect(h.logs.filter((l) => l.includes("warn") && l.includes("dropped")).length).toBeLessThan(10);
    await h.gateway.stop();
  });

  it("a frame cut off by silence is given up and counted as TRUNCATED", async () => {
    const h = await harness();
    const [one] = dataOf({ version: "5.0", seed: 1, count: 1 });
    h.push((one as Buffer).subarray(0, 200));
    expect(h.gateway.info().counters.telegramsDropped).toEqual({});
    vi.advanceTimersByTime(5_000);
    expect(h.gateway.info().counters.telegramsDropped).toEqual({ TRUNCATED: 1 });
    await h.gateway.stop();
  });

  it("silence is measured from the last byte, not the first: a slow trickle is not cut", async () => {
    const h = await harness();
    const [one] = dataOf({ version: "5.0", seed: 1, count: 1 });
    h.push((one as Buffer).subarray(0, 100));
    vi.advanceTimersByTime(4_000);
    h.push((one as Buffer).subarray(100, 200));
    vi.advanceTimersByTime(4_000);
    expect(h.gateway.info().counters.telegramsDropped).toEqual({});
    vi.advanceTimersByTime(1_000);
    expect(h.gateway.info().counters.telegramsDropped).toEqual({ TRUNCATED: 1 });
    await h.gateway.stop();
  });

  it("Smarty: decrypts with the key, drops replayed frames as REPLAYED and wrong keys as DECRYPT_FAILED", async () => {
    const h = await harness({ key: KEY });
    const options: SimulatorOptions = {
      version: "smarty",
      seed: 5,
      count: 200,
      key: KEY,
      faults: { replay: 0.1, wrongKey: 0.05 },
    };
    const sim = new Simulator(options);
    for (const bytes of dataOf(options, sim)) h.push(bytes);
    const expected = sim.log.expected();
    const { counters, sources } = h.gateway.info();
    expect(sources[0]).toMatchObject({ version: "smarty", encrypted: true });
    // The log says which AES-GCM decrypts: the addon when built (and not turned off), else node:crypto.
    const { implementation } = gcmImplementation();
    const said = h.logs.filter((l) => l.includes("protocol version smarty, encrypted (AES-GCM: "));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(implementation === "native" ? "native addon" : "node:crypto, addon ");
    expect(counters.telegramsDropped.REPLAYED).toBe(expected.replay);
    expect(counters.telegramsDropped.DECRYPT_FAILED).toBe(expected.DECRYPT_FAILED);
    // A replay is an extra, old frame sent again; the 200 meter telegrams are the valid ones plus wrong keys.
    expect(expected.replay).toBeGreaterThan(0);
    expect(counters.telegramsOk + (expected.DECRYPT_FAILED ?? 0)).toBe(200);
    await h.gateway.stop();
  });

  it("stop() is idempotent and leaves no timer behind", async () => {
    const h = await harness();
    h.push(dataOf({ version: "5.0", seed: 1, count: 1 })[0] as Buffer);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    await h.gateway.stop();
    await h.gateway.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("Gateway.info(sourceId)", () => {
  it("reports only that source, its counters as the totals; without an id, every source summed", async () => {
    const streams = [new Readable({ read() {} }), new Readable({ read() {} })];
    const gateway = new Gateway({
      name: "two",
      version: "0",
      sources: [
        { id: "home", source: new StreamSource(streams[0] as Readable, "home stream") },
        { id: "garage", source: new StreamSource(streams[1] as Readable, "garage stream") },
      ],
    });
    gateway.start();
    await new Promise((r) => process.nextTick(r));
    const [a, b] = dataOf({ version: "5.0", seed: 1, count: 2 }) as [Buffer, Buffer];
    streams[0]?.push(a);
    streams[0]?.push(b);
    streams[1]?.push(a);
    await vi.waitFor(() => expect(gateway.info().counters.telegramsOk).toBe(3));
    const home = gateway.info("home");
    expect(home.sources.map((s) => s.id)).toEqual(["home"]);
    expect(home.counters.telegramsOk).toBe(2);
    expect(gateway.info("garage").counters.telegramsOk).toBe(1);
    expect(gateway.info("nowhere").sources).toEqual([]);
    await gateway.stop();
  });
});
