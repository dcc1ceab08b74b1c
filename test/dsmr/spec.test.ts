import { describe, expect, it } from "vitest";
import { DETECTION, OBJECTS, type ObjectDef, VERSION_NAMES, VERSIONS } from "../../src/dsmr/index.ts";

const DEFS = Object.entries(OBJECTS) as [string, ObjectDef][];
/** Units each device class admits (Home Assistant's sensor rules). */
const CLASS_UNITS: Record<string, readonly string[]> = {
  energy: ["kWh", "Wh", "MWh", "GJ"],
  power: ["kW", "W"],
  apparent_power: ["kVA", "VA"],
  reactive_power: ["kvar", "var"],
  reactive_energy: ["kvarh", "varh"],
  voltage: ["V"],
  current: ["A"],
  gas: ["m3"],
  water: ["m3"],
};

describe("spec tables", () => {
  it("every version lists only objects that exist, without duplicate channel ids or OBIS", () => {
    for (const name of VERSION_NAMES) {
      const v = VERSIONS[name];
      const defs = [...v.objects, ...v.mbusObjects].map((o) => OBJECTS[o] as ObjectDef);
      expect(defs.every(Boolean), name).toBe(true);
      const ids = defs.map((d) => `${d.meter === "mbus" ? "mbus:" : ""}${d.id}`);
      expect(new Set(ids).size, `${name} ids`).toBe(ids.length);
      const obis = defs.map((d) => d.obis);
      expect(new Set(obis).size, `${name} obis`).toBe(obis.length);
    }
  });

  it("every definition has the same fields in the same order (one hidden class: monomorphic reads)", () => {
    const first = Object.keys(DEFS[0]?.[1] ?? {});
    expect(first).toContain("unit");
    for (const [key, d] of DEFS) expect(Object.keys(d), key).toEqual(first);
  });

  it("OBIS references are well formed; M-Bus objects use the n channel", () => {
    for (const [key, d] of DEFS) {
      expect(d.obis, key).toMatch(/^\d{1,3}-(\d{1,3}|n):\d{1,3}\.\d{1,3}\.\d{1,3}$/);
      expect(d.obis.includes(":") && d.obis.split(":")[0]?.endsWith("-n"), key).toBe(d.meter === "mbus");
    }
  });

  it("units fit device classes", () => {
    for (const [key, d] of DEFS) {
      if (d.deviceClass && d.unit && CLASS_UNITS[d.deviceClass])
        expect(CLASS_UNITS[d.deviceClass], key).toContain(d.unit);
    }
  });

  it("registers are total_increasing, instantaneous values measurement", () => {
    for (const [key, d] of DEFS) {
      if (d.deviceClass === "energy" || d.deviceClass === "reactive_energy" || d.deviceClass === "gas")
        expect(d.stateClass, key).toBe("total_increasing");
      if ((d.deviceClass === "voltage" || d.deviceClass === "current") && !d.diagnostic)
        expect(d.stateClass, key).toBe("measurement");
    }
  });

  it("every version's M-Bus objects name exactly one identifier, device type and reading", () => {
    for (const v of VERSION_NAMES) {
      const roles = VERSIONS[v].mbusObjects
        .map((o) => (OBJECTS[o] as ObjectDef).role)
        .filter(Boolean)
        .sort();
      if (VERSIONS[v].mbusObjects.length > 0)
        expect(roles, v).toEqual(["deviceType", "identifier", "reading"]);
      const main = VERSIONS[v].objects.filter((o) => (OBJECTS[o] as ObjectDef).meter === "electricity");
      expect(
        main.some((o) => (OBJECTS[o] as ObjectDef).role === "identifier"),
        `${v} main meter id`,
      ).toBe(true);
    }
  });

  it("detection rules name existing versions and every version is detectable", () => {
    for (const r of DETECTION) expect(VERSION_NAMES).toContain(r.version);
    for (const v of VERSION_NAMES)
      expect(
        DETECTION.some((r) => r.version === v),
        v,
      ).toBe(true);
  });

  it("serial settings follow the version family", () => {
    for (const v of VERSION_NAMES)
      expect(VERSIONS[v].serial.baudRate, v).toBe(VERSIONS[v].crc ? 115200 : 9600);
  });
});
