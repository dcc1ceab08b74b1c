import { describe, expect, it } from "vitest";
import { Prng, Simulator } from "../../simulator/index.ts";
import { crc16, formatCrc, ParseMemory, parseTelegram, type Telegram } from "../../src/dsmr/index.ts";
import { EntityStore, EVERY_TELEGRAM, type MeterPolicy } from "../../src/gateway/index.ts";
import { discoverMeters, type Meter, meterEntities, meterId, telegramTime } from "../../src/meters/index.ts";
import { fixture, parseOk } from "../helpers/fixtures.ts";
import { edited, type LineEdit, randomEdit } from "../helpers/layouts.ts";

const DSMR50 = fixture("dsmr50.txt").toString("latin1");
const E_METER = "electricity_0_e0044007382246019";
const GAS = "gas_1_g0039001936990619";
const WATER = "water_2_w0039001936990619";

/** The DSMR 5.0 fixture's bytes with lines replaced (`obis(` prefix → whole new line) and a fresh CRC. */
function variantBytes(replace: Readonly<Record<string, string>> = {}): Buffer {
  const lines = DSMR50.split("\r\n").map((line) => {
    const hit = Object.keys(replace).find((k) => line.startsWith(k));
    return hit === undefined ? line : (replace[hit] as string);
  });
  const text = lines.join("\r\n");
  const body = text.slice(0, text.indexOf("!") + 1);
  const bytes = Buffer.from(body, "latin1");
  return Buffer.concat([bytes, Buffer.from(`${formatCrc(crc16(bytes))}\r\n`, "latin1")]);
}

/** The same, parsed. */
function variant(replace: Readonly<Record<string, string>> = {}): Telegram {
  return parseOk(variantBytes(replace));
}

const tariff1 = (kwh: string) => ({ "1-0:1.8.1(": `1-0:1.8.1(${kwh}*kWh)` });
const power = (kw: string) => ({ "1-0:1.7.0(": `1-0:1.7.0(${kw}*kW)` });
const policy = (p: MeterPolicy) => () => p;

describe("EntityStore", () => {
  it("describes every value of every meter with unit, device class and state class", () => {
    const store = new EntityStore();
    const r = store.ingest("home", variant(), 1_000, policy(EVERY_TELEGRAM));
    const byId = new Map(r.newEntities.map((e) => [e.id, e]));
    expect(byId.get(`${E_METER}_emeter_delivery_tariff1`)).toMatchObject({
      name: expect.stringMatching(/tariff 1/i),
      obis: "1-0:1.8.1",
      unit: "kWh",
      kind: "number",
      deviceClass: "energy",
      stateClass: "total_increasing",
      decimals: 3,
      diagnostic: false,
      meter: { type: "electricity", channel: 0, equipmentId: "E0044007382246019", sourceId: "home" },
    });
    expect(byId.get(`${E_METER}_emeter_actual_delivery`)).toMatchObject({
      unit: "kW",
      deviceClass: "power",
      stateClass: "measurement",
    });
    expect(byId.get(`${E_METER}_emeter_instant_voltage_l1`)).toMatchObject({
      unit: "V",
      deviceClass: "voltage",
    });
    expect(byId.get(`${E_METER}_emeter_equipment_identifier`)).toMatchObject({
      kind: "text",
      diagnostic: true,
    });
    expect(byId.get(`${E_METER}_p1_version_output`)).toMatchObject({ kind: "text" });
    expect(byId.get(`${GAS}_meter_value`)).toMatchObject({
      name: "Gas reading",
      obis: "0-1:24.2.1",
      unit: "m3",
      deviceClass: "gas",
      stateClass: "total_increasing",
    });
    expect(byId.get(`${WATER}_meter_value`)).toMatchObject({
      unit: "m3",
      deviceClass: "water",
      obis: "0-2:24.2.1",
    });
    // One entity per value; ids unique and safe for every API.
    expect(new Set(r.newEntities.map((e) => e.id)).size).toBe(r.newEntities.length);
    for (const e of r.newEntities) expect(e.id).toMatch(/^[a-z0-9_]+$/);
    expect(store.meters("home").map((m) => m.id)).toEqual([E_METER, GAS, WATER]);
  });

  it("states carry the value as written, the meter's timestamps and availability", () => {
    const store = new EntityStore();
    const r = store.ingest("home", variant(), 5_000, policy(EVERY_TELEGRAM));
    const state = (id: string) => r.states.find((s) => s.entityId === id);
    expect(state(`${E_METER}_emeter_delivery_tariff1`)).toEqual({
      entityId: `${E_METER}_emeter_delivery_tariff1`,
      value: 4321.987,
      text: "004321.987",
      timestamp: "2023-06-15T14:30:05+02:00",
      receivedAtMs: 5_000,
      available: true,
    });
    // An M-Bus reading has its own capture time.
    expect(state(`${GAS}_meter_value`)).toMatchObject({
      value: 3456.789,
      timestamp: "2023-06-15T14:25:00+02:00",
    });
    expect(state(`${E_METER}_emeter_power_failure_log`)?.value).toBe("2023-03-01T08:00:00+01:00 (1800 s)");
    expect(state(`${E_METER}_p1_text_string`)?.value).toBe("Test bericht");
  });

  it("keeps a state's texts exactly, whether it holds them as numbers or as strings", () => {
    // The store keeps digits as their shape and ISO times as a code (compact.ts) and writes them again
    // when asked; digits of more than 15 places, and texts of no such form, are kept as they are.
    const store = new EntityStore();
    const id = `${E_METER}_emeter_delivery_tariff1`;
    const asked = () => ({ one: store.state(id), all: store.states().find((s) => s.entityId === id) });
    let checked = 0;
    for (const [kwh, atMs] of [
      ["004321.987", 1_000],
      ["0000000000004321.98700", 2_000], // 20 digits: kept as a string
      ["4321.987", 3_000], // the same number with other digits: a new text
      ["4321.9870", 4_000],
    ] as const) {
      const published = store.ingest("home", variant(tariff1(kwh)), atMs, policy(EVERY_TELEGRAM));
      const state = published.states.find((s) => s.entityId === id);
      expect(state?.text).toBe(kwh);
      expect(asked()).toEqual({ one: state, all: state });
      checked++;
    }
    expect(checked).toBe(4);
    expect(store.state(id)?.timestamp).toBe("2023-06-15T14:30:05+02:00");
    // Text values, a timestamp among them, come back as they came (the same telegram: none published).
    expect(store.ingest("home", variant(tariff1("4321.9870")), 5_000, policy(EVERY_TELEGRAM)).states).toEqual(
      [],
    );
    expect(store.state(`${E_METER}_p1_text_string`)?.value).toBe("Test bericht");
    expect(store.state(`${E_METER}_emeter_power_failure_log`)?.value).toBe(
      "2023-03-01T08:00:00+01:00 (1800 s)",
    );
    expect(store.state(`${E_METER}_p1_timestamp`)).toMatchObject({
      value: "2023-06-15T14:30:05+02:00",
      timestamp: "2023-06-15T14:30:05+02:00",
      receivedAtMs: 5_000,
    });
    expect(store.state(`${GAS}_meter_value`)).toMatchObject({
      text: "03456.789",
      timestamp: "2023-06-15T14:25:00+02:00",
    });
  });

  it("publishes only values that changed; a repeated value's latest state is still kept", () => {
    const store = new EntityStore();
    const first = store.ingest("home", variant(), 5_000, policy(EVERY_TELEGRAM));
    expect(first.states.length).toBe(first.newEntities.length);
    // The same telegram again: nothing new, nothing changed, nothing published.
    const again = store.ingest("home", variant(), 6_000, policy(EVERY_TELEGRAM));
    expect(again.newEntities).toEqual([]);
    expect(again.states).toEqual([]);
    // states() and state() answer with the latest telegram's time even so (what a new client is sent first).
    const id = `${E_METER}_emeter_delivery_tariff1`;
    expect(store.state(id)).toMatchObject({ value: 4321.987, receivedAtMs: 6_000 });
    expect(store.states().find((s) => s.entityId === id)?.receivedAtMs).toBe(6_000);
    // One changed line: only its value is published.
    const changed = store.ingest(
      "home",
      variant({ ...tariff1("004322.000"), ...power("00.500") }),
      7_000,
      policy(EVERY_TELEGRAM),
    );
    expect(changed.states.map((s) => s.entityId).sort()).toEqual(
      [`${E_METER}_emeter_actual_delivery`, id].sort(),
    );
    expect(changed.states.find((s) => s.entityId === id)).toMatchObject({ value: 4322, text: "004322.000" });
    // The same number written with other digits is a change of its text, and published.
    const respelled = store.ingest(
      "home",
      variant({ ...tariff1("04322.0000"), ...power("00.500") }),
      8_000,
      policy(EVERY_TELEGRAM),
    );
    expect(respelled.states.map((s) => s.entityId)).toEqual([id]);
  });

  it("a state handed out never changes: later telegrams, repeats and timeouts make new ones", () => {
    // The store keeps its latest states in place; what it published or answered must stay as it was
    // (the gRPC streams queue and cache states, the native API encodes them later).
    const store = new EntityStore();
    const id = `${E_METER}_emeter_delivery_tariff1`;
    const kept: { state: object; copy: object }[] = [];
    const keep = (states: readonly object[]) => {
      for (const state of states) kept.push({ state, copy: structuredClone(state) });
    };
    const step = (telegram: Telegram, atMs: number) => {
      keep(store.ingest("home", telegram, atMs, policy(EVERY_TELEGRAM)).states);
      keep(store.states());
      const one = store.state(id);
      if (one) keep([one]);
    };
    step(variant(), 1_000);
    step(variant(), 2_000); // repeated: only the latest time moves
    step(variant({ ...tariff1("004322.000"), ...power("00.500") }), 3_000);
    keep(store.markUnavailable("home", 4_000).states);
    step(variant(), 5_000); // back, with the first telegram's (lower) values held
    step(variant({ ...tariff1("004323.000"), ...power("00.700") }), 6_000);
    expect(kept.length).toBeGreaterThan(100);
    for (const k of kept) expect(k.state).toEqual(k.copy);
    // And the latest state is the last published value with the latest time.
    expect(store.state(id)).toEqual({
      entityId: id,
      value: 4323,
      text: "004323.000",
      timestamp: expect.any(String),
      receivedAtMs: 6_000,
      available: true,
    });
  });

  it("finds each object's entity by its place in the last telegram only while the lines are the same", () => {
    // The store maps a telegram's objects to entities by position when the meter's lines repeat; any
    // change of lines must give what meterEntities gives for the telegram on its own.
    const sim = new Simulator({
      version: "5.0",
      seed: 3,
      mbus: [
        { channel: 1, kind: "gas" },
        { channel: 2, kind: "water" },
      ],
    });
    const prng = new Prng(9);
    const store = new EntityStore();
    let checked = 0;
    // The lines change now and then and stay so for a while: then they repeat (found by position) in
    // their new order, and a changed order, or another key for a line, must be noticed.
    let edits: LineEdit[] = [];
    for (let i = 0; i < 400; i++) {
      const change = prng.next();
      if (change < 0.05) edits = [];
      else if (change < 0.15) edits = Array.from({ length: prng.int(1, 3) }, () => randomEdit(prng));
      else if (change < 0.25)
        edits = edits.map((e) => (e.kind === "repeat" ? { ...e, suffix: e.suffix + 1 } : e));
      const t = edited(parseOk(sim.next().telegram.plaintext), edits);
      const atMs = 1_000 * (i + 1);
      const { anomalies } = store.ingest("home", t, atMs, policy(EVERY_TELEGRAM));
      const meters = discoverMeters(t);
      meterEntities(t, meters).forEach((entities, m) => {
        for (const e of entities) {
          const id = `${meterId(meters[m] as Meter)}_${e.key}`;
          // A reading moved to another meter's channel may be lower than that meter's: held, rightly.
          if (e.value.value === null || anomalies.includes(id)) continue;
          expect(store.state(id), id).toEqual({
            entityId: id,
            value: e.value.value,
            text: e.value.text,
            timestamp: e.value.timestamp ?? telegramTime(t),
            receivedAtMs: atMs,
            available: true,
          });
          checked++;
        }
      });
    }
    expect(checked).toBeGreaterThan(5_000);
  });

  it("holds a register that goes backwards and accepts a drop confirmed three times as a reset", () => {
    const store = new EntityStore();
    const id = `${E_METER}_emeter_delivery_tariff1`;
    const valueAfter = (kwh: string, t: number) => {
      const r = store.ingest("home", variant(tariff1(kwh)), t, policy(EVERY_TELEGRAM));
      return { state: r.states.find((s) => s.entityId === id), anomalies: r.anomalies, resets: r.resets };
    };
    expect(valueAfter("004321.987", 1).state?.value).toBe(4321.987);
    const glitch = valueAfter("004000.000", 2);
    expect(glitch.state).toBeUndefined();
    expect(glitch.anomalies).toEqual([id]);
    expect(valueAfter("004322.000", 3).state?.value).toBe(4322); // back above: the glitch is over
    expect(valueAfter("000001.000", 4).state).toBeUndefined();
    expect(valueAfter("000001.100", 5).state).toBeUndefined();
    const reset = valueAfter("000001.200", 6);
    expect(reset.resets).toEqual([id]);
    expect(reset.state?.value).toBe(1.2);
    expect(store.states().find((s) => s.entityId === id)?.value).toBe(1.2);
  });

  it("refresh rate: at most one state per period; measurements publish the period's mean, min or max", () => {
    const run = (aggregate: MeterPolicy["aggregate"]) => {
      const store = new EntityStore();
      const published: { t: number; power: unknown; tariff: unknown }[] = [];
      // 1 telegram per second for 25 s, power 0.1 kW × second.
      for (let s = 0; s <= 25; s++) {
        const kw = (s / 10).toFixed(3).padStart(6, "0");
        const r = store.ingest(
          "home",
          variant({ ...power(kw), ...tariff1(`00${(4321 + s).toFixed(3)}`) }),
          s * 1000,
          policy({ refreshRateS: 10, aggregate }),
        );
        const p = r.states.find((x) => x.entityId === `${E_METER}_emeter_actual_delivery`);
        const t = r.states.find((x) => x.entityId === `${E_METER}_emeter_delivery_tariff1`);
        if (p || t) published.push({ t: s, power: p?.value, tariff: t?.value });
      }
      return published;
    };
    // First telegram at once, then one per 10 s; registers always publish their latest value.
    expect(run("last")).toEqual([
      { t: 0, power: 0, tariff: 4321 },
      { t: 10, power: 1, tariff: 4331 },
      { t: 20, power: 2, tariff: 4341 },
    ]);
    expect(run("mean").map((p) => p.power)).toEqual([0, 0.55, 1.55]); // mean of 0.1..1.0, then 1.1..2.0
    expect(run("min").map((p) => p.power)).toEqual([0, 0.1, 1.1]);
    expect(run("max").map((p) => p.power)).toEqual([0, 1, 2]);
  });

  it("receivedTimeout: every state goes unavailable once, and the next telegram restores it at once", () => {
    const store = new EntityStore();
    store.ingest("home", variant(), 0, policy({ refreshRateS: 60, aggregate: "last" }));
    store.ingest("home", variant(), 100_000, policy({ refreshRateS: 60, aggregate: "last" }));
    const gone = store.markUnavailable("home", 120_000);
    expect(gone.states.length).toBe(store.entities().length);
    expect(gone.states.every((s) => !s.available && s.value === null)).toBe(true);
    // Each state comes with its own entity.
    expect(gone.stateEntities.map((e) => e.id)).toEqual(gone.states.map((s) => s.entityId));
    expect(store.markUnavailable("home", 121_000).states).toEqual([]);
    expect(store.markUnavailable("other", 121_000).states).toEqual([]);
    // Within the 60 s period, yet published: availability changes are never throttled.
    const back = store.ingest("home", variant(), 125_000, policy({ refreshRateS: 60, aggregate: "last" }));
    expect(back.states.length).toBe(store.entities().length);
    expect(back.stateEntities).toEqual(back.states.map((s) => store.entity(s.entityId)));
    expect(back.states.every((s) => s.available)).toBe(true);
  });

  it("an M-Bus meter swap retires the old meter's entities and creates the new meter's", () => {
    const store = new EntityStore();
    store.ingest("home", variant(), 0, policy(EVERY_TELEGRAM));
    const r = store.ingest(
      "home",
      variant({ "0-1:96.1.0(": "0-1:96.1.0(4730303339303031393336393930363230)" }),
      1_000,
      policy(EVERY_TELEGRAM),
    );
    expect(r.swaps.map((s) => [s.from.id, s.to.id])).toEqual([[GAS, "gas_1_g0039001936990620"]]);
    expect(r.newEntities.every((e) => e.meter.id === "gas_1_g0039001936990620")).toBe(true);
    const old = r.states.filter((s) => s.entityId.startsWith(GAS));
    expect(old.length).toBeGreaterThan(0);
    expect(old.every((s) => !s.available)).toBe(true);
    expect(store.meters("home").map((m) => m.id)).toEqual([E_METER, WATER, "gas_1_g0039001936990620"]);
  });

  it("memory stays bounded when a broken meter reports a new equipment id in every telegram", () => {
    const store = new EntityStore();
    for (let i = 0; i < 500; i++) {
      const id = Buffer.from(`G${String(i).padStart(16, "0")}`, "latin1").toString("hex");
      store.ingest("home", variant({ "0-1:96.1.0(": `0-1:96.1.0(${id})` }), i, policy(EVERY_TELEGRAM));
    }
    const perMeter = 4; // device type, id, reading … of the gas meter
    expect(store.entities().length).toBeLessThan(60 + 16 * perMeter);
    // Forgotten meters leave the per-source listing too.
    expect(store.entities("home").map((e) => e.id)).toEqual(store.entities().map((e) => e.id));
    expect(store.meters("home").length).toBe(3);
  });

  it("two sources reading meters with the same ids get distinct entity ids", () => {
    const store = new EntityStore();
    const a = store.ingest("a", variant(), 0, policy(EVERY_TELEGRAM));
    const b = store.ingest("b", variant(), 0, policy(EVERY_TELEGRAM));
    expect(b.newEntities.length).toBe(a.newEntities.length);
    expect(b.newEntities[0]?.id).toBe(`${a.newEntities[0]?.id}_b`);
    expect(new Set(store.entities().map((e) => e.id)).size).toBe(a.newEntities.length * 2);
  });

  it("lists one source's entities and states, in discovery order, as the whole list filtered", () => {
    const store = new EntityStore();
    store.ingest("a", variant(), 0, policy(EVERY_TELEGRAM));
    store.ingest("b", variant(), 0, policy(EVERY_TELEGRAM));
    store.ingest("a", variant(tariff1("004322.000")), 1_000, policy(EVERY_TELEGRAM));
    for (const source of ["a", "b"]) {
      const ids = store.entities(source).map((e) => e.id);
      expect(ids.length).toBeGreaterThan(20);
      expect(ids).toEqual(
        store
          .entities()
          .filter((e) => e.sourceId === source)
          .map((e) => e.id),
      );
      const mine = new Set(ids);
      expect(store.states(source)).toEqual(store.states().filter((s) => mine.has(s.entityId)));
    }
    expect(store.entities("nobody")).toEqual([]);
    expect(store.states("nobody")).toEqual([]);
  });
});

describe("EntityStore: objects the parser repeats", () => {
  /** Parses with a memory of its own: the lines a telegram repeats come back as the same objects. */
  function remembering(): (bytes: Buffer) => Telegram {
    const memory = new ParseMemory();
    return (bytes) => {
      const r = parseTelegram(bytes, memory);
      if (!r.ok) throw new Error(r.error.message);
      return r.telegram;
    };
  }
  /** Parses every telegram afresh: every object new, so the store reads every value in full. */
  const afresh = (bytes: Buffer): Telegram => {
    const r = parseTelegram(bytes, new ParseMemory());
    if (!r.ok) throw new Error(r.error.message);
    return r.telegram;
  };

  type Step = { bytes: Buffer } | { timeout: true };

  /** Feeds both stores the same steps; everything either shows must be equal after every step. */
  function compare(steps: readonly Step[], policyOf: (n: number) => MeterPolicy): number {
    const parse = remembering();
    const short = new EntityStore();
    const full = new EntityStore();
    let previous: readonly unknown[] = [];
    let repeatedObjects = 0;
    steps.forEach((step, n) => {
      const atMs = 1_000 * (n + 1);
      if ("timeout" in step) {
        expect(short.markUnavailable("home", atMs), `step ${n}`).toEqual(full.markUnavailable("home", atMs));
      } else {
        const telegram = parse(step.bytes);
        repeatedObjects += telegram.objects.filter((o, i) => o === previous[i]).length;
        previous = telegram.objects;
        const policy = () => policyOf(n);
        const a = short.ingest("home", telegram, atMs, policy);
        const b = full.ingest("home", afresh(step.bytes), atMs, policy);
        expect(a, `step ${n}`).toEqual(b);
      }
      expect(short.states(), `step ${n}`).toEqual(full.states());
    });
    return repeatedObjects;
  }

  it("change exactly what reading them in full would, through drops, resets, timeouts and policies", () => {
    const sim = new Simulator({ version: "5.0", seed: 11 });
    const simulated: Step[] = Array.from({ length: 60 }, () => ({ bytes: sim.next().telegram.plaintext }));
    // A register held back, the same lower line repeated until it is a reset, then repeated again.
    const register: Step[] = [
      "004321.987",
      "004322.000",
      "004300.000",
      "004300.000",
      "004300.000",
      "004300.000",
      "004300.000",
      "004310.000",
    ].map((kwh) => ({ bytes: variantBytes(tariff1(kwh)) }));
    const repeats: Step[] = [
      { bytes: variantBytes(power("00.300")) },
      { bytes: variantBytes(power("00.300")) },
      { timeout: true },
      { bytes: variantBytes(power("00.300")) }, // back after the timeout: published again
      { bytes: variantBytes(power("00.300")) },
      { bytes: variantBytes({ ...power("00.300"), "0-0:1.0.0(": "0-0:1.0.0(170124213333W)" }) },
    ];
    const steps = [...simulated, ...register, ...repeats, ...simulated.slice(0, 5)];
    expect(compare(steps, () => EVERY_TELEGRAM)).toBeGreaterThan(20 * steps.length);
    // A refresh window in some telegrams, none in others: the short path only where none applies.
    const windows = (n: number): MeterPolicy =>
      n % 7 < 3
        ? { refreshRateS: 2, aggregate: "mean" }
        : n % 7 < 5
          ? { refreshRateS: 3, aggregate: "last" }
          : EVERY_TELEGRAM;
    expect(compare(steps, windows)).toBeGreaterThan(20 * steps.length);
  });

  it("an object repeated through a refresh window is read in full after it (the window's state is not its own)", () => {
    // The same telegram throughout: every object repeats. The window publishes means (without the
    // meter's digits); once it ends the object's own text is the state again, and published.
    const same: Step[] = Array.from({ length: 9 }, () => ({ bytes: variantBytes(power("00.300")) }));
    const policies = (n: number): MeterPolicy =>
      n >= 2 && n < 6 ? { refreshRateS: 2, aggregate: "mean" } : EVERY_TELEGRAM;
    expect(compare(same, policies)).toBeGreaterThan(30 * 8);
  });
});
