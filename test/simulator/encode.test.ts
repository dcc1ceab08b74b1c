import { describe, expect, it } from "vitest";
import { Simulator, VALUE_SOURCES } from "../../simulator/index.ts";
import {
  type EncodeObject,
  encodeTelegram,
  formatNumber,
  OBJECTS,
  type ObjectName,
  parseTelegram,
  VERSION_NAMES,
  VERSIONS,
  writeConvention,
} from "../../src/dsmr/index.ts";
import { actual, expected } from "./helpers.ts";

describe("encodeTelegram", () => {
  it("pads numbers to the format's width", () => {
    expect(formatNumber(1234.567, { integer: 6, fraction: 3 })).toBe("001234.567");
    expect(formatNumber(1.19, { integer: 3, fraction: 2 })).toBe("001.19");
    expect(formatNumber(3, { integer: 3, fraction: 0 })).toBe("003");
  });

  it("writes header, blank line, CR LF lines, '!' and the CRC as DSMR 5 does", () => {
    const objects: EncodeObject[] = [
      { name: "p1_version_output", value: { kind: "text", value: "50" } },
      { name: "emeter_delivery_tariff1", value: { kind: "decimal", value: 1234.567 } },
      {
        name: "meter_value",
        channel: 2,
        value: { kind: "reading", value: 12.5, at: "240210092500W", unit: "m3" },
      },
    ];
    const text = encodeTelegram("5.0", "ISK5\\2M550T-1012", objects).toString("latin1");
    expect(text).toMatch(
      /^\/ISK5\\2M550T-1012\r\n\r\n1-3:0\.2\.8\(50\)\r\n1-0:1\.8\.1\(001234\.567\*kWh\)\r\n0-2:24\.2\.1\(240210092500W\)\(00012\.500\*m3\)\r\n![0-9A-F]{4}\r\n$/,
    );
  });

  it("writes no CRC for versions without one and puts the legacy gas value on the next line", () => {
    const text = encodeTelegram("3.0", "ISk5\\2MT382-1000", [
      {
        name: "meter_value_v3",
        channel: 1,
        value: { kind: "reading", value: 1.001, at: "090212160000", unit: "m3" },
      },
    ]).toString("latin1");
    expect(text).toBe(
      "/ISk5\\2MT382-1000\r\n\r\n0-1:24.3.0(090212160000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00001.001)\r\n!\r\n",
    );
  });

  it.each(VERSION_NAMES)("every object of %s has a value source and decimals have a width", (version) => {
    const v = VERSIONS[version];
    for (const name of [...v.objects, ...v.mbusObjects] as ObjectName[]) {
      expect(VALUE_SOURCES[name], name).toBeDefined();
      const def = OBJECTS[name];
      const numeric = def.codec === "decimal" && !name.startsWith("p1_");
      if (numeric && name !== "meter_device_type") {
        expect(
          writeConvention(version).numbers[name as keyof ReturnType<typeof writeConvention>["numbers"]],
          name,
        ).toBeDefined();
      }
    }
  });

  describe.each(VERSION_NAMES)("round trip %s", (version) => {
    it.each([1, 2, 3, 42])("seed %i: parseTelegram(encodeTelegram(...)) gives back every value", (seed) => {
      const sim = new Simulator({
        version,
        seed,
        speed: 97,
        solarPeakW: seed % 2 ? 4000 : 0,
        phases: seed === 3 ? 1 : 3,
      });
      for (let i = 0; i < 15; i++) {
        const { telegram } = sim.next();
        const r = parseTelegram(telegram.plaintext);
        if (!r.ok) throw r.error;
        expect(r.telegram.version).toBe(version);
        expect(r.telegram.crc).toBe(VERSIONS[version].crc ? "valid" : "absent");
        expect(r.telegram.warnings).toEqual([]);
        expect(r.telegram.unknown).toEqual([]);
        expect(r.telegram.objects.map(actual)).toEqual(telegram.objects.map(expected));
      }
    });
  });
});
