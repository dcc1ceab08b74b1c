import { describe, expect, it } from "vitest";
import { detectMeterSwaps, discoverMeters } from "../../src/meters/index.ts";
import { fixture, parseOk } from "../helpers/fixtures.ts";

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

  it("detects a meter swap on a channel", () => {
    const before = discoverMeters(parseOk(fixture("dsmr50.txt")));
    const after = before.map((m) => (m.channel === 1 ? { ...m, equipmentId: "G9999" } : m));
    expect(detectMeterSwaps(before, after)).toEqual([
      { type: "gas", channel: 1, from: "G0039001936990619", to: "G9999" },
    ]);
    expect(detectMeterSwaps(before, before)).toEqual([]);
  });
});
