import { describe, expect, it } from "vitest";
import { localTime } from "../../simulator/clock.ts";
import {
  FAULT_KINDS,
  MBUS_MEDIA,
  type SimEvent,
  type SimTelegram,
  Simulator,
  type SimulatorOptions,
  simulate,
} from "../../simulator/index.ts";
import {
  type EncodeObject,
  MBUS_DEVICE_TYPES,
  OBJECTS,
  parseTelegram,
  VERSION_NAMES,
  type VersionName,
} from "../../src/dsmr/index.ts";
import { type Decoded, TelegramDecoder } from "../../src/gateway/index.ts";
import { isP1Error } from "../../src/shared/index.ts";
import { CORPUS_DIR, corpusEntries, hasCorpus, readCorpus } from "../helpers/corpus.ts";
import { actual, expected } from "./helpers.ts";

const KEY = Buffer.from("000102030405060708090A0B0C0D0E0F", "hex");

function run(options: SimulatorOptions): { telegrams: SimTelegram[]; events: SimEvent[]; sim: Simulator } {
  const sim = new Simulator(options);
  const telegrams: SimTelegram[] = [];
  const events: SimEvent[] = [];
  while (!sim.done) {
    const step = sim.next();
    telegrams.push(step.telegram);
    events.push(...step.events);
  }
  return { telegrams, events, sim };
}

function decodeEvents(
  events: readonly SimEvent[],
  key?: Uint8Array,
): { decoded: Decoded[]; decoder: TelegramDecoder } {
  const decoder = new TelegramDecoder(key ? { decryptionKey: key } : {});
  const decoded: Decoded[] = [];
  for (const e of events) if (e.kind === "data") decoded.push(...decoder.push(e.bytes));
  decoded.push(...decoder.flush());
  return { decoded, decoder };
}

function numbers(t: SimTelegram, name: EncodeObject["name"], channel?: number): number | undefined {
  const o = t.objects.find((x) => x.name === name && x.channel === channel);
  return o && (o.value.kind === "decimal" || o.value.kind === "reading") ? o.value.value : undefined;
}

describe("simulator → TelegramDecoder round trip", () => {
  describe.each(VERSION_NAMES)("%s", (version) => {
    it.each([1, 7, 123, 2024])("seed %i: decoded values are exactly the model's", (seed) => {
      const key = version === "smarty" ? KEY : undefined;
      const { telegrams, events } = run({
        version,
        seed,
        count: 25,
        speed: 40,
        solarPeakW: 3500,
        mbus:
          version === "2.1"
            ? [{ channel: 1, kind: "gas" }]
            : [
                { channel: 1, kind: "gas" },
                { channel: 2, kind: "water" },
              ],
        ...(key ? { key } : {}),
      });
      const { decoded } = decodeEvents(events, key);
      expect(decoded).toHaveLength(telegrams.length);
      decoded.forEach((d, i) => {
        if (!d.ok) throw d.error;
        const t = telegrams[i] as SimTelegram;
        expect(d.telegram.version).toBe(version);
        expect(d.telegram.objects.map(actual)).toEqual(t.objects.map(expected));
        if (key) expect(d.encryption?.counter).toBe(i === 0 ? "first" : "ok");
      });
    });
  });

  it("same seed gives the same bytes, another seed different ones", () => {
    const bytes = (seed: number) =>
      Buffer.concat(
        [
          ...simulate({ version: "5.0", seed, count: 30, key: KEY, faults: { garbage: 0.3, crc: 0.2 } }),
        ].flatMap((e) => (e.kind === "data" ? [e.bytes] : [])),
      );
    expect(bytes(5).equals(bytes(5))).toBe(true);
    expect(bytes(5).equals(bytes(6))).toBe(false);
  });

  it("enabling faults does not change the household's values", () => {
    const plain = run({ version: "5.0", seed: 9, count: 40 }).telegrams.map((t) => t.objects);
    const faulty = run({
      version: "5.0",
      seed: 9,
      count: 40,
      faults: { garbage: 0.5, chunk: 0.5 },
    }).telegrams.map((t) => t.objects);
    expect(faulty).toEqual(plain);
  });
});

describe("physical consistency", () => {
  const REGISTERS = [
    "emeter_delivery_tariff0",
    "emeter_delivery_tariff1",
    "emeter_delivery_tariff2",
    "emeter_production_tariff0",
    "emeter_production_tariff1",
    "emeter_production_tariff2",
    "emeter_total_imported_energy_register_q",
    "emeter_total_exported_energy_register_q",
    "emeter_power_failures",
    "emeter_long_power_failures",
  ] as const;

  it.each(VERSION_NAMES)("%s: registers and gas never decrease over two simulated days", (version) => {
    const { telegrams } = run({
      version,
      seed: 3,
      count: 300,
      speed: 600 / (version === "5.0" || version === "emucs" ? 1 : 10),
      solarPeakW: 4000,
      events: { powerFailureMs: 6 * 3_600_000, sagSwellMs: 3_600_000 },
    });
    for (let i = 1; i < telegrams.length; i++) {
      const [a, b] = [telegrams[i - 1] as SimTelegram, telegrams[i] as SimTelegram];
      for (const name of REGISTERS) {
        const [x, y] = [numbers(a, name), numbers(b, name)];
        if (x !== undefined && y !== undefined) expect(y, name).toBeGreaterThanOrEqual(x);
      }
      for (const name of [
        "meter_value",
        "meter_value_v3",
        "meter_value_uncorrected",
        "gmeter_24h_delivery_v2",
      ] as const) {
        const [x, y] = [
          numbers(a, name, name.startsWith("g") ? undefined : 1),
          numbers(b, name, name.startsWith("g") ? undefined : 1),
        ];
        if (x !== undefined && y !== undefined) expect(y, name).toBeGreaterThanOrEqual(x);
      }
    }
    // Something actually happened: energy was consumed.
    const first =
      numbers(telegrams[0] as SimTelegram, "emeter_delivery_tariff1") ??
      numbers(telegrams[0] as SimTelegram, "emeter_delivery_tariff0");
    const last =
      numbers(telegrams.at(-1) as SimTelegram, "emeter_delivery_tariff1") ??
      numbers(telegrams.at(-1) as SimTelegram, "emeter_delivery_tariff0");
    expect(last).toBeGreaterThan(first ?? 0);
  });

  it("the register total equals the tariff registers integrated from power (Wh, no drift)", () => {
    const sim = new Simulator({ version: "5.0", seed: 11, solarPeakW: 0 });
    const t0 = sim.model.delivered[0].units + sim.model.delivered[1].units;
    let expectedWms = 0;
    for (let i = 0; i < 5000; i++) {
      sim.next();
      expectedWms += Math.max(0, sim.model.netW) * 1000;
    }
    const t1 = sim.model.delivered[0].units + sim.model.delivered[1].units;
    // Each tariff register keeps its own sub-Wh remainder: the sum may trail by one Wh per register.
    expect(t1 - t0).toBeLessThanOrEqual(Math.floor(expectedWms / 3_600_000));
    expect(t1 - t0).toBeGreaterThanOrEqual(Math.floor(expectedWms / 3_600_000) - 2);
  });

  it.each(["5.0", "emucs", "4.2"] as const)("%s: per-phase power ≈ voltage × current", (version) => {
    const { telegrams } = run({ version, seed: 4, count: 200, speed: 300, solarPeakW: 5000 });
    const step = version === "emucs" ? 0.01 : 1; // current resolution in A
    for (const t of telegrams) {
      for (const [p, v, i, d, r] of [
        [
          1,
          "emeter_instant_voltage_l1",
          "emeter_instant_current_l1",
          "emeter_instant_power_delivery_l1",
          "emeter_instant_power_production_l1",
        ],
        [
          2,
          "emeter_instant_voltage_l2",
          "emeter_instant_current_l2",
          "emeter_instant_power_delivery_l2",
          "emeter_instant_power_production_l2",
        ],
      ] as const) {
        // 4.x writes no voltage: the meter divided by a voltage we cannot see, assume at most 250 V.
        const volts = numbers(t, v) ?? 250;
        const amps = numbers(t, i) as number;
        const kw = (numbers(t, d) as number) + (numbers(t, r) as number);
        const seen = numbers(t, v) !== undefined;
        const error = seen
          ? Math.abs(kw * 1000 - volts * amps)
          : Math.abs(kw * 1000 - 230 * amps) - 20 * amps;
        expect(error, `L${p}`).toBeLessThanOrEqual(volts * (step / 2) + 1);
      }
    }
  });

  it("e-MUCS: the monthly peak is at least every quarter-hour average of its month; history moves at month end", () => {
    const { telegrams } = run({
      version: "emucs",
      seed: 8,
      count: 3000,
      speed: 60, // one telegram per simulated minute: about two days across 31 January
      startTime: Date.UTC(2024, 0, 30, 12, 0, 0),
    });
    const monthOf = (t: number) => localTime(t).month;
    const quarters: { end: number; watts: number }[] = [];
    const historyLengths = new Set<number>();
    for (const t of telegrams) {
      quarters.push(...t.completedQuarters);
      const peak = t.objects.find((o) => o.name === "emeter_max_demand_month")?.value;
      if (peak?.kind !== "reading") throw new Error("no 1-0:1.6.0");
      // A quarter belongs to the month in which it started (it may end at midnight on the 1st).
      for (const q of quarters.filter((q) => monthOf(q.end - 1) === monthOf(t.at))) {
        expect(Math.round(peak.value * 1000)).toBeGreaterThanOrEqual(q.watts);
      }
      const history = t.objects.find((o) => o.name === "emeter_max_demand_history")?.value;
      if (history?.kind === "peakHistory") historyLengths.add(history.entries.length);
    }
    expect(quarters.length).toBeGreaterThan(100);
    expect(new Set(quarters.map((q) => monthOf(q.end - 1)))).toEqual(new Set([1, 2]));
    // Three seeded months, then January's peak joins at midnight local time.
    expect([...historyLengths]).toEqual([3, 4]);
  });

  it("M-Bus media use device types the spec table maps to the same kind", () => {
    for (const [kind, media] of Object.entries(MBUS_MEDIA)) {
      expect(MBUS_DEVICE_TYPES[media.deviceType as keyof typeof MBUS_DEVICE_TYPES]).toBe(kind);
    }
  });

  it("DSMR 5 captures gas every 5 minutes, DSMR 4 every hour; timestamps follow DST", () => {
    const captureTime = (t: SimTelegram): number => {
      const v = t.objects.find((o) => o.name === "meter_value")?.value;
      if (v?.kind !== "reading" || typeof v.at !== "number") throw new Error("no gas reading");
      return v.at;
    };
    const five = run({ version: "5.0", seed: 2, count: 20, speed: 60 }).telegrams;
    const stamps5 = new Set(five.map(captureTime));
    for (const s of stamps5) expect(s % 300_000).toBe(0);
    expect(stamps5.size).toBeGreaterThan(3);
    const four = run({ version: "4.2", seed: 2, count: 20, speed: 36 }).telegrams;
    for (const t of four) expect(captureTime(t) % 3_600_000).toBe(0);
    // Across the spring-forward night the telegram clock switches from W to S.
    const dst = run({
      version: "5.0",
      seed: 2,
      count: 3,
      speed: 3600,
      startTime: Date.UTC(2024, 2, 31, 0, 30),
    });
    const text = dst.telegrams.map(
      (t) => /0-0:1\.0\.0\((\d{12}[SW])\)/.exec(t.plaintext.toString("latin1"))?.[1],
    );
    expect(text).toEqual(["240331013000W", "240331033000S", "240331043000S"]);
  });
});

describe("format against real captures", () => {
  const CAPTURES: Partial<Record<VersionName, string>> = {
    "2.2": "dsmr22/dsmr_parser-v2_2.txt",
    "3.0": "dsmr30/dsmr_parser-v3.txt",
    "4.0": "dsmr40/arduino-dsmr-kaifa-dsmr40.txt",
    "4.04": "dsmr40/openhab-dsmr40-iskra-spec-example.txt",
    "4.2": "dsmr42/dsmr-reader-kaifa-dsmr42.txt",
    "5.0": "dsmr50/dsmr_parser-v5-two-mbus.txt",
    emucs: "emucs/dsmr_parser-fluvius-v171.txt",
    smarty: "smarty/openhab-smarty-with-units.txt",
  };
  // Shape of a line: OBIS, then each group with digits replaced by 9 (widths and units stay visible).
  const shape = (line: string) => line.replace(/\d/g, "9");
  const lines = (bytes: Buffer) =>
    new Map(
      bytes
        .toString("latin1")
        .split(/\r?\n/)
        .filter((l) => /^\d+-\d+:\d+\.\d+\.\d+\(/.test(l))
        .map((l) => [l.slice(0, l.indexOf("(")), l.slice(l.indexOf("("))] as const),
    );

  it.skipIf(!hasCorpus).each(Object.entries(CAPTURES))(
    "%s matches %s in widths, units and order",
    (version, file) => {
      expect(
        corpusEntries().some((e) => e.file === file),
        `${file} in ${CORPUS_DIR}`,
      ).toBe(true);
      const real = lines(readCorpus(file));
      const ours = lines(
        new Simulator({
          version: version as VersionName,
          seed: 1,
          mbus: [{ channel: 1, kind: "gas" }],
        }).next().telegram.plaintext,
      );
      const common = [...ours.keys()].filter((k) => real.has(k));
      expect(common.length).toBeGreaterThan(5);
      // The same relative order as the meter writes them, M-Bus channel 1 included.
      expect(common).toEqual([...real.keys()].filter((k) => ours.has(k)));
      let compared = 0;
      for (const obis of common) {
        const [a, b] = [ours.get(obis) as string, real.get(obis) as string];
        // Only compare single-number lines (free texts, ids and logs differ in length by nature).
        if (!/^\(\d+(\.\d+)?(\*\w+)?\)$/.test(b) || /96\.1\.|96\.13|42\.0\.0/.test(obis)) continue;
        expect(shape(a), obis).toBe(shape(b));
        compared++;
      }
      expect(compared).toBeGreaterThan(3);
    },
  );
});

describe("faults", () => {
  const BREAKING = { crc: "CRC_MISMATCH", drop: "CRC_MISMATCH", truncate: "TRUNCATED" } as const;

  it.each(Object.entries(BREAKING))("%s on DSMR 5 is reported by the decoder as %s", (kind, code) => {
    const { events, sim, telegrams } = run({
      version: "5.0",
      seed: 21,
      count: 60,
      intervalMs: 0,
      faults: { [kind]: 0.2 },
    });
    const { decoded } = decodeEvents(events);
    const injected = sim.log.counts[kind as keyof typeof BREAKING];
    expect(injected).toBeGreaterThan(3);
    const errors = decoded.filter((d) => !d.ok);
    expect(errors).toHaveLength(injected);
    for (const e of errors) if (!e.ok) expect(isP1Error(e.error, code), e.error.message).toBe(true);
    expect(decoded.filter((d) => d.ok)).toHaveLength(telegrams.length - injected);
  });

  it("a dropped byte without a CRC (DSMR 3.0) is MALFORMED_LINE", () => {
    const { events, sim } = run({ version: "3.0", seed: 2, count: 50, faults: { drop: 0.2 } });
    const errors = decodeEvents(events).decoded.filter((d) => !d.ok);
    expect(errors).toHaveLength(sim.log.counts.drop);
    for (const e of errors) if (!e.ok) expect(e.error.code).toBe("MALFORMED_LINE");
  });

  it("garbage, NUL bytes and tiny chunks are tolerated; skipped bytes equal the injected noise", () => {
    const { events, sim, telegrams } = run({
      version: "emucs",
      seed: 4,
      count: 60,
      faults: { garbage: 0.4, chunk: 0.4 },
    });
    const { decoded, decoder } = decodeEvents(events);
    expect(decoded.every((d) => d.ok)).toBe(true);
    expect(decoded).toHaveLength(telegrams.length);
    expect(sim.log.counts.garbage).toBeGreaterThan(5);
    expect(sim.log.counts.chunk).toBeGreaterThan(5);
    const noise = sim.log.entries.reduce((n, e) => n + (e.bytes ?? 0), 0);
    // Each telegram's CR LF after the CRC is skipped too.
    expect(decoder.skippedBytes).toBe(noise + 2 * telegrams.length);
    expect(events.some((e) => e.kind === "data" && e.bytes.includes(0))).toBe(true);
  });

  it("Smarty: wrong key and corrupted frames are DECRYPT_FAILED, a replayed counter is flagged", () => {
    const { events, sim } = run({
      version: "smarty",
      seed: 5,
      count: 80,
      key: KEY,
      faults: { wrongKey: 0.1, replay: 0.1, crc: 0.1 },
    });
    const { decoded } = decodeEvents(events, KEY);
    const want = sim.log.expected();
    expect(sim.log.counts.wrongKey + sim.log.counts.replay + sim.log.counts.crc).toBeGreaterThan(10);
    expect(decoded.filter((d) => !d.ok && d.error.code === "DECRYPT_FAILED")).toHaveLength(
      want.DECRYPT_FAILED ?? 0,
    );
    expect(decoded.filter((d) => d.ok && d.encryption?.counter === "replay")).toHaveLength(want.replay ?? 0);
  });

  it("Smarty: a frame that lost a byte is DECRYPT_FAILED and never costs the next frame", () => {
    const { events, sim } = run({ version: "smarty", seed: 9, count: 80, key: KEY, faults: { drop: 0.2 } });
    const { decoded } = decodeEvents(events, KEY);
    const dropped = sim.log.counts.drop;
    expect(dropped).toBeGreaterThan(5);
    expect(decoded.filter((d) => !d.ok && d.error.code === "DECRYPT_FAILED")).toHaveLength(dropped);
    expect(decoded.filter((d) => d.ok)).toHaveLength(80 - dropped);
  });

  it("Smarty: frames cut inside their ciphertext are TRUNCATED and never cost the next frame", () => {
    const { events, sim } = run({
      version: "smarty",
      seed: 8,
      count: 80,
      key: KEY,
      faults: { truncate: 0.2 },
    });
    const { decoded } = decodeEvents(events, KEY);
    const cut = sim.log.counts.truncate;
    expect(cut).toBeGreaterThan(5);
    expect(decoded.filter((d) => !d.ok && d.error.code === "TRUNCATED")).toHaveLength(cut);
    expect(decoded.filter((d) => d.ok)).toHaveLength(80 - cut);
  });

  it("stall, unplug and replug appear as events; clock faults show in the timestamp; swaps change the M-Bus id", () => {
    const { events, sim } = run({
      version: "5.0",
      seed: 6,
      count: 100,
      faults: { stall: 0.05, unplug: 0.05, clockPast: 0.05, clockFuture: 0.05, mbusSwap: 0.05 },
    });
    const { decoded } = decodeEvents(events);
    expect(decoded.every((d) => d.ok)).toBe(true);
    const stalls = events.filter((e) => e.kind === "pause" && e.reason === "stall");
    expect(stalls).toHaveLength(sim.log.counts.stall);
    for (const s of stalls) if (s.kind === "pause") expect(s.ms).toBeGreaterThan(120_000);
    expect(events.filter((e) => e.kind === "unplug")).toHaveLength(sim.log.counts.unplug);
    expect(events.filter((e) => e.kind === "replug")).toHaveLength(sim.log.counts.unplug);
    const stamps = decoded.map((d) =>
      d.ok ? d.telegram.objects.find((o) => o.obis === "0-0:1.0.0")?.value : undefined,
    );
    const nulls = stamps.filter((v) => v?.kind === "timestamp" && v.value === null).length;
    const future = stamps.filter(
      (v) => v?.kind === "timestamp" && v.value !== null && v.value > "2030",
    ).length;
    expect(nulls).toBe(sim.log.counts.clockPast);
    expect(future).toBe(sim.log.counts.clockFuture);
    const ids = new Set(
      decoded.map((d) =>
        d.ok ? JSON.stringify(d.telegram.objects.find((o) => o.obis === "0-1:96.1.0")?.value) : "",
      ),
    );
    expect(ids.size).toBe(1 + sim.log.counts.mbusSwap);
    for (const k of FAULT_KINDS) expect(sim.log.counts[k]).toBeGreaterThanOrEqual(0);
    expect(
      sim.log.counts.stall + sim.log.counts.unplug + sim.log.counts.clockPast + sim.log.counts.mbusSwap,
    ).toBeGreaterThan(4);
  });

  it("the default output of every version has no warnings for the parser", () => {
    for (const v of VERSION_NAMES) {
      const r = parseTelegram(new Simulator({ version: v }).next().telegram.plaintext);
      expect(r.ok && r.telegram.warnings.length === 0, v).toBe(true);
      expect(OBJECTS.p1_timestamp.obis).toBe("0-0:1.0.0");
    }
  });
});
