import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { Simulator, type SimulatorOptions, simulate } from "../../simulator/index.ts";
import { type GrpcServer, startGrpcServer } from "../../src/api/grpc/index.ts";
import { SimulatorSource } from "../../src/cli/simulator-source.ts";
import { Gateway, type GatewaySource, type MeterPolicy } from "../../src/gateway/index.ts";
import { StreamSource } from "../../src/transport/index.ts";
import { ManualClock } from "../helpers/clock.ts";
import { Collector, type EntityStateMsg, GatewayTestClient, subscribed } from "../helpers/grpc-client.ts";

/** Everything a test started, stopped in reverse order afterwards. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function serve(sources: GatewaySource[], clock?: ManualClock) {
  const gateway = new Gateway({ name: "test", version: "0.0.0", sources, ...(clock ? { clock } : {}) });
  const server: GrpcServer = await startGrpcServer(gateway, { host: "127.0.0.1", port: 0 });
  gateway.start();
  const client = new GatewayTestClient(`127.0.0.1:${server.port}`);
  cleanups.push(
    () => gateway.stop(),
    () => server.stop(),
    () => client.close(),
  );
  return { gateway, server, client };
}

const TARIFF1 = /^electricity_0_.*_emeter_delivery_tariff1$/;
const POWER = /^electricity_0_.*_emeter_actual_delivery$/;
const value = (s: EntityStateMsg) => (s.number !== undefined && s.number !== null ? s.number : s.text);

describe("gateway fed by the simulator, served over gRPC to a real grpc-js client", () => {
  it("lists entities with metadata, streams a snapshot then live states equal to the simulator's values", async () => {
    const options: SimulatorOptions = { version: "5.0", seed: 11, count: 40, intervalMs: 25 };
    const { client } = await serve([{ id: "home", source: new SimulatorSource(options) }]);
    // The model's power per meter time, from an independent simulator with the same seed.
    const model = new Map<string, number>();
    const reference = new Simulator(options);
    while (!reference.done) {
      const { telegram } = reference.next();
      const ts = telegram.objects.find((o) => o.name === "p1_timestamp")?.value;
      const p = telegram.objects.find((o) => o.name === "emeter_actual_delivery")?.value;
      if (ts?.kind === "timestamp" && p?.kind === "decimal")
        model.set(new Date(ts.at).toISOString(), p.value);
    }
    // Wait for the first telegram, then look at the list.
    const first = new Collector(client.streamStates({ entity_ids: [] }));
    await first.until((items) => items.some((s) => TARIFF1.test(s.entity_id)));
    const entities = await client.listEntities();
    const tariff = entities.find((e) => TARIFF1.test(e.id));
    expect(tariff).toMatchObject({
      obis: "1-0:1.8.1",
      unit: "kWh",
      device_class: "energy",
      state_class: "STATE_CLASS_TOTAL_INCREASING",
      kind: "ENTITY_KIND_NUMBER",
      source_id: "home",
    });
    expect(entities.find((e) => POWER.test(e.id))).toMatchObject({
      unit: "kW",
      state_class: "STATE_CLASS_MEASUREMENT",
    });
    expect(entities.find((e) => e.id.startsWith("gas_1_") && e.channel_name === "meter_value")).toMatchObject(
      {
        device_class: "gas",
        unit: "m3",
      },
    );
    // A second client subscribed to the power: its current state first, then every change, up to the
    // model's last change (states are in telegram order, so reaching it means everything arrived).
    const power = entities.find((e) => POWER.test(e.id))?.id as string;
    const series = [...model.entries()];
    const lastChange = series.findLast(([, v], i) => i === 0 || v !== series[i - 1]?.[1])?.[0];
    const at = (s: EntityStateMsg) => new Date(Number(s.meter_time?.seconds) * 1000).toISOString();
    const two = new Collector(client.streamStates({ entity_ids: [power] }));
    await two.until((items) => items.some((s) => at(s) === lastChange), 15_000);
    const one = two.items;
    expect(one.every((s) => s.entity_id === power && s.available && s.unit === "kW")).toBe(true);
    for (const s of one) {
      expect(model.has(at(s)), at(s)).toBe(true);
      expect(s.number).toBeCloseTo(model.get(at(s)) as number, 3);
    }
    const times = one.map((s) => Number(s.meter_time?.seconds));
    expect([...times].sort((a, b) => a - b)).toEqual(times); // in order
    // Every change of the model from the first state on, each once: a repeated value is not sent again.
    const from = at(one[0] as EntityStateMsg);
    const later = series.filter(([t]) => t >= from).map(([, v]) => v);
    const changes = later.filter((v, i) => i === 0 || v !== later[i - 1]);
    expect(changes.length).toBeGreaterThan(5);
    expect(one.map((s) => s.number)).toEqual(changes.map((v) => expect.closeTo(v, 3)));
  });

  it("filters by meter and source, and GetInfo counts what arrived", async () => {
    const { client } = await serve([
      { id: "a", source: new SimulatorSource({ version: "5.0", seed: 1, count: 20, intervalMs: 20 }) },
      { id: "b", source: new SimulatorSource({ version: "emucs", seed: 2, count: 20, intervalMs: 20 }) },
    ]);
    const bOnly = new Collector(client.streamStates({ source_ids: ["b"] }));
    await bOnly.count(50, 15_000);
    const entities = await client.listEntities();
    const sourceOf = new Map(entities.map((e) => [e.id, e.source_id]));
    expect(bOnly.items.every((s) => sourceOf.get(s.entity_id) === "b")).toBe(true);
    const gasMeter = entities.find((e) => e.source_id === "a" && e.meter?.type === "METER_TYPE_GAS")?.meter
      ?.id as string;
    const gas = new Collector(client.streamStates({ meter_ids: [gasMeter] }));
    await gas.count(3, 15_000);
    expect(gas.items.every((s) => entities.find((e) => e.id === s.entity_id)?.meter?.id === gasMeter)).toBe(
      true,
    );
    const info = await client.getInfo();
    expect(info.sources.map((s) => [s.id, s.protocol_version])).toEqual([
      ["a", "5.0"],
      ["b", "emucs"],
    ]);
    expect(Number(info.counters?.telegrams_ok)).toBeGreaterThan(2);
  });

  it("200 streams opened and cancelled on a live gateway leave no listener and no client behind", async () => {
    const { gateway, client } = await serve([
      { id: "home", source: new SimulatorSource({ version: "5.0", seed: 3, intervalMs: 5 }) },
    ]);
    const baseline = { state: gateway.listenerCount("state"), telegram: gateway.listenerCount("telegram") };
    const calls = Array.from({ length: 200 }, (_, i) =>
      i % 2 === 0 ? client.streamStates() : client.streamTelegrams(),
    );
    await Promise.all(calls.map((c) => subscribed(c)));
    expect(gateway.info().counters.clients).toBe(200);
    for (const c of calls) {
      c.on("error", () => {}); // CANCELLED
      c.cancel();
    }
    const deadline = Date.now() + 10_000;
    while (gateway.info().counters.clients > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(gateway.info().counters.clients).toBe(0);
    expect(gateway.listenerCount("state")).toBe(baseline.state);
    expect(gateway.listenerCount("telegram")).toBe(baseline.telegram);
    expect(gateway.info().counters.telegramsOk).toBeGreaterThan(0);
  });

  it("refresh rate throttles and averages; receivedTimeout turns states unavailable (manual clock)", async () => {
    const clock = new ManualClock();
    const stream = new Readable({ read() {} });
    const policy: MeterPolicy = { refreshRateS: 10, aggregate: "mean" };
    const { client, gateway } = await serve(
      [{ id: "home", source: new StreamSource(stream), receivedTimeoutS: 120, policyFor: () => policy }],
      clock,
    );
    const options: SimulatorOptions = { version: "5.0", seed: 4, count: 25 };
    const sim = new Simulator(options);
    const powers: number[] = [];
    const telegrams = [...simulate(options, sim)].flatMap((e) => (e.kind === "data" ? [e.bytes] : []));
    const reference = new Simulator(options);
    while (!reference.done) {
      const p = reference.next().telegram.objects.find((o) => o.name === "emeter_actual_delivery")?.value;
      if (p?.kind === "decimal") powers.push(Number(p.value.toFixed(3)));
    }
    const call = client.streamStates();
    const states = new Collector(call);
    await subscribed(call);
    for (const [i, t] of telegrams.entries()) {
      stream.push(t);
      // Let the stream deliver the telegram before time moves on.
      while (gateway.info().counters.telegramsOk <= i) await new Promise((r) => setImmediate(r));
      clock.advance(1_000);
    }
    const power = () => states.items.filter((s) => POWER.test(s.entity_id));
    await states.until(() => power().length >= 3);
    // Telegrams 0..24, one per second: published at 0 s, 10 s (mean of 1..10), 20 s (mean of 11..20).
    const mean = (from: number, to: number) =>
      powers.slice(from, to + 1).reduce((a, b) => a + b, 0) / (to - from + 1);
    expect(power().map((s) => value(s))).toEqual([
      powers[0],
      expect.closeTo(mean(1, 10), 3),
      expect.closeTo(mean(11, 20), 3),
    ]);
    clock.advance(120_000);
    const unavailable = () => states.items.filter((s) => !s.available);
    await states.until(() => unavailable().length >= gateway.entities().length);
    expect(
      unavailable().every((s) => s.value === undefined && s.number === undefined && s.text === undefined),
    ).toBe(true);
    expect(new Set(unavailable().map((s) => s.entity_id)).size).toBe(gateway.entities().length);
    const info = await client.getInfo();
    expect(info.sources[0]?.link_state).toBe("LINK_STATE_STALE");
  });
});
