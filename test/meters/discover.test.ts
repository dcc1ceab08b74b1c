import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Prng, Simulator } from "../../simulator/index.ts";
import {
  type CosemObject,
  MBUS_DEVICE_TYPES,
  MBUS_KIND_BY_UNIT,
  type MeterKind,
  type Telegram,
} from "../../src/dsmr/index.ts";
import { VERSION_NAMES } from "../../src/dsmr/spec/versions.ts";
import { detectMeterSwaps, discoverMeters, type Meter } from "../../src/meters/index.ts";
import { fixture, fixturePath, parseOk } from "../helpers/fixtures.ts";
import { rearranged } from "../helpers/layouts.ts";

/** discoverMeters as first written: a filter over the objects per meter kind (the reference). */
function discoverByFilters(telegram: Telegram): Meter[] {
  const textOf = (o: CosemObject | undefined) =>
    o && o.value.kind === "text" && !/^0*$/.test(o.value.raw) ? o.value.value : null;
  const meters: Meter[] = [];
  const electricity = telegram.objects.filter((o) => o.def?.meter === "electricity");
  if (electricity.length > 0) {
    const id = textOf(electricity.find((o) => o.def?.role === "identifier"));
    meters.push({ type: "electricity", channel: 0, equipmentId: id, deviceType: null });
  }
  for (const kind of ["gas", "water", "heat", "cooling"] as const) {
    const objs = telegram.objects.filter((o) => o.def?.meter === kind);
    if (objs.length === 0) continue;
    const id = textOf(objs.find((o) => o.def?.role === "identifier"));
    meters.push({ type: kind, channel: 0, equipmentId: id, deviceType: null });
  }
  const channels = new Map<number, CosemObject[]>();
  for (const o of telegram.objects) {
    if (o.def?.meter !== "mbus") continue;
    channels.set(o.channel, [...(channels.get(o.channel) ?? []), o]);
  }
  for (const [channel, objs] of [...channels].sort((a, b) => a[0] - b[0])) {
    const typeObj = objs.find((o) => o.def?.role === "deviceType");
    const deviceType = typeObj?.value.kind === "decimal" ? typeObj.value.value : null;
    const equipmentId = textOf(objs.find((o) => o.def?.role === "identifier"));
    const reading = objs.find((o) => o.def?.role === "reading")?.value;
    if (equipmentId === null && !(reading?.kind === "reading" && reading.timestamp !== null)) continue;
    const unit = reading && "unit" in reading ? reading.unit : null;
    const byType = MBUS_DEVICE_TYPES[deviceType as keyof typeof MBUS_DEVICE_TYPES] as MeterKind | undefined;
    const byUnit = MBUS_KIND_BY_UNIT[unit as keyof typeof MBUS_KIND_BY_UNIT] as MeterKind | undefined;
    meters.push({ type: byType ?? byUnit ?? "generic", channel, equipmentId, deviceType });
  }
  return meters;
}

describe("discoverMeters", () => {
  it("finds electricity and M-Bus meters by device type with their equipment ids", () => {
    expect(discoverMeters(parseOk(fixture("dsmr50.txt")))).toEqual([
      { type: "electricity", channel: 0, equipmentId: "E0044007382246019", deviceType: null },
      { type: "gas", channel: 1, equipmentId: "G0039001936990619", deviceType: 3 },
      { type: "water", channel: 2, equipmentId: "W0039001936990619", deviceType: 7 },
    ]);
  });

  it("finds DSMR 2.1 legacy gas meters addressed by medium", () => {
    const meters = discoverMeters(parseOk(fixture("dsmr21.txt")));
    expect(meters.map((m) => m.type)).toEqual(["electricity", "gas"]);
  });

  it("leaves out dead M-Bus slots (zero id, placeholder reading)", () => {
    const text = fixture("dsmr30.txt").toString("latin1");
    const dead = text
      .replace("0-1:96.1.0(3232323241424344313233343536373839)", "0-1:96.1.0(00000000000000)")
      .replace("(110705160000)", "(700101010000W)");
    expect(discoverMeters(parseOk(Buffer.from(dead, "latin1"))).map((m) => m.type)).toEqual(["electricity"]);
  });

  it("finds what a filter per meter kind finds, in every fixture, version and rearranged telegram", () => {
    const telegrams = readdirSync(fixturePath("."))
      .filter((f) => f.endsWith(".txt"))
      .map((f) => parseOk(fixture(f)));
    for (const version of VERSION_NAMES) {
      const sim = new Simulator({ version, seed: 7 });
      for (let i = 0; i < 5; i++) telegrams.push(parseOk(sim.next().telegram.plaintext));
    }
    const prng = new Prng(42);
    let compared = 0;
    for (const t of telegrams) {
      let variant = t;
      for (let i = 0; i < 20; i++, compared++) {
        expect(discoverMeters(variant)).toEqual(discoverByFilters(variant));
        variant = rearranged(variant, prng);
      }
    }
    expect(compared).toBeGreaterThan(200);
  });

  it("detects a meter swap on a channel", () => {
    const before = discoverMeters(parseOk(fixture("dsmr50.txt")));
    const after = before.map((m) => (m.channel === 1 ? { ...m, equipmentId: "G9999" } : m));
    expect(detectMeterSwaps(before, after)).toEqual([
      { type: "gas", channel: 1, from: "G0039001936990619", to: "G9999" },
    ]);
    expect(detectMeterSwaps(before, before)).toEqual([]);
  });
});
