import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ConfigOverrides,
  type GatewayConfig,
  loadConfig,
  type MeterType,
  meterPolicy,
  parseConfig,
  redactConfig,
  resolveNetwork,
  type SourceConfig,
} from "../../src/config/index.ts";
import { DATA_REQUESTS, GATEWAY_KEYS, METER_KEYS, SOURCE_KEYS } from "../../src/config/schema.ts";
import {
  SERIAL_9600_7E1,
  SERIAL_115200_7E1,
  SERIAL_115200_8N1,
  VERSION_NAMES,
} from "../../src/dsmr/index.ts";
import type { MeterKind } from "../../src/meters/index.ts";
import { DATA_REQUEST_CHOICES } from "../../src/transport/index.ts";
import { configError } from "../helpers/config.ts";

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), "../../src/config/example.yaml");

// Distinctive secrets: a message quoting any of them would be caught by substring search.
const KEY_HEX = "0123456789ABCDEFFEDCBA9876543210";
const AUTH_HEX = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
const API_KEY = Buffer.alloc(32, 7).toString("base64");

const TMP = mkdtempSync(join(tmpdir(), "p1-config-"));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let fileCount = 0;

/** Writes `text` to a fresh temp file and returns its path. */
function tempFile(text: string, name = `config-${++fileCount}.yaml`): string {
  const dir = join(TMP, `d${++fileCount}`);
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function only(config: GatewayConfig): SourceConfig {
  expect(config.sources).toHaveLength(1);
  return config.sources[0] as SourceConfig;
}

describe("parseConfig: valid configurations", () => {
  it.each([
    ["nothing", undefined],
    ["null (an empty YAML file)", null],
    ["an empty mapping", {}],
  ])("%s = all defaults, the embedded DSMR 5.0 simulator", (_, raw) => {
    expect(parseConfig(raw, "test")).toEqual({
      name: "p1-gateway",
      host: null,
      grpcPort: 50051,
      apiPort: 6053,
      apiEncryptionKey: null,
      mdns: null,
      mdnsInterface: null,
      sources: [
        {
          kind: "simulator",
          id: "simulator",
          version: "5.0",
          decryptionKey: null,
          authenticationKey: null,
          fanout: null,
          nativeApi: true,
          receivedTimeoutS: 120,
          refreshRateS: 0,
          aggregate: "last",
          meters: [],
        },
      ],
    });
  });

  const single: [string, Record<string, unknown>, Partial<Record<string, unknown>>][] = [
    [
      "serial port",
      { serialPort: "/dev/ttyUSB0" },
      { kind: "serial", id: "serial", path: "/dev/ttyUSB0", serial: "auto" },
    ],
    ["baud auto", { serialPort: "/dev/p1", baud: "auto" }, { serial: "auto" }],
    ["baud 115200 = 8N1", { serialPort: "/dev/p1", baud: 115200 }, { serial: SERIAL_115200_8N1 }],
    ["baud 9600 = 7E1", { serialPort: "/dev/p1", baud: 9600 }, { serial: SERIAL_9600_7E1 }],
    ['baud "9600" as text', { serialPort: "/dev/p1", baud: "9600" }, { serial: SERIAL_9600_7E1 }],
    ["baud label", { serialPort: "/dev/p1", baud: "115200 7e1" }, { serial: SERIAL_115200_7E1 }],
    [
      "baud mapping, unset fields from the rate's standard",
      { serialPort: "/dev/p1", baud: { baudRate: 115200, dataBits: 7, parity: "even" } },
      { serial: SERIAL_115200_7E1 },
    ],
    [
      "baud mapping, rate only",
      { serialPort: "/dev/p1", baud: { baudRate: 9600 } },
      { serial: SERIAL_9600_7E1 },
    ],
    ["tcp IPv4", { tcp: "192.168.1.50:2001" }, { kind: "tcp", id: "tcp", host: "192.168.1.50", port: 2001 }],
    ["tcp IPv6", { tcp: "[fd00::5]:2001" }, { kind: "tcp", host: "fd00::5", port: 2001 }],
    ["tcp host name", { tcp: "p1-dongle.local:23" }, { kind: "tcp", host: "p1-dongle.local", port: 23 }],
    ["file as written", { file: "capture.txt" }, { kind: "file", id: "file", path: "capture.txt" }],
    ['simulate "4.2"', { simulate: "4.2" }, { kind: "simulator", version: "4.2" }],
    ["simulate 5 (YAML's unquoted 5.0)", { simulate: 5 }, { version: "5.0" }],
    ["simulate 4.04 as a number", { simulate: 4.04 }, { version: "4.04" }],
    ["simulate in capitals", { simulate: "EMUCS" }, { version: "emucs" }],
    ["own id", { id: "home", serialPort: "/dev/p1" }, { id: "home" }],
    [
      "keys, grouped with spaces and in lower case",
      {
        simulate: "smarty",
        decryptionKey: "01234567 89abcdef fedcba98 76543210",
        authenticationKey: AUTH_HEX,
      },
      { decryptionKey: Buffer.from(KEY_HEX, "hex"), authenticationKey: Buffer.from(AUTH_HEX, "hex") },
    ],
    [
      "the seed binding's additionalKey form: 30 + key",
      { decryptionKey: KEY_HEX, authenticationKey: `30${AUTH_HEX}` },
      { authenticationKey: Buffer.from(AUTH_HEX, "hex") },
    ],
    [
      "timeouts and throttling",
      { serialPort: "/dev/p1", receivedTimeout: 30, refreshRate: 5, aggregate: "max" },
      { receivedTimeoutS: 30, refreshRateS: 5, aggregate: "max" },
    ],
    ["dataRequest default", { serialPort: "/dev/p1" }, { dataRequest: "none", fanout: null }],
    ["dataRequest rts", { serialPort: "/dev/p1", dataRequest: "rts" }, { dataRequest: "rts" }],
    ["fanout port", { serialPort: "/dev/p1", fanout: 2001 }, { fanout: { host: null, port: 2001 } }],
    ['fanout "2001" as text', { tcp: "h:1", fanout: "2001" }, { fanout: { host: null, port: 2001 } }],
    [
      "fanout HOST:PORT",
      { serialPort: "/dev/p1", fanout: "127.0.0.1:2001" },
      { fanout: { host: "127.0.0.1", port: 2001 } },
    ],
    [
      "null = unset",
      { serialPort: "/dev/p1", decryptionKey: null, baud: null },
      { decryptionKey: null, serial: "auto" },
    ],
  ];
  it.each(single)("one source: %s", (_, raw, expected) => {
    expect(only(parseConfig(raw, "test"))).toMatchObject(expected);
  });

  it("reads the gateway keys", () => {
    const c = parseConfig(
      { name: "P1 meter", host: "::", grpcPort: 0, apiPort: 0, apiEncryptionKey: API_KEY, mdns: false },
      "test",
    );
    expect(c).toMatchObject({ name: "P1 meter", host: "::", grpcPort: 0, apiPort: 0, mdns: false });
    expect(c.apiEncryptionKey).toEqual(Buffer.alloc(32, 7));
  });

  it.each(["eth0", "enp3s0", "192.168.1.10"])("reads mdnsInterface %s", (value) => {
    expect(parseConfig({ mdnsInterface: value }, "test").mdnsInterface).toBe(value);
  });

  it.each(["fd00::1", "eth 0", "a-name-longer-than-15", "eth0/1"])(
    "refuses mdnsInterface %s, naming the key",
    (value) => {
      expect(() => parseConfig({ mdnsInterface: value }, "test")).toThrow(/mdnsInterface/);
    },
  );

  it("resolves a relative file against baseDir", () => {
    const s = only(parseConfig({ file: "capture.txt" }, "test", { baseDir: "/etc/p1" }));
    expect(s).toMatchObject({ kind: "file", path: "/etc/p1/capture.txt" });
  });

  it("reads a sources list: default ids by position, top-level keys as defaults, per-source overrides", () => {
    const c = parseConfig(
      {
        decryptionKey: KEY_HEX,
        receivedTimeout: 60,
        refreshRate: 10,
        baud: 9600,
        meters: [{ type: "gas", refreshRate: 300 }],
        sources: [
          { serialPort: "/dev/p1" },
          { id: "garage", tcp: "10.0.0.7:2001", receivedTimeout: 20, decryptionKey: AUTH_HEX, meters: [] },
          { simulate: "3.0", aggregate: "mean" },
        ],
      },
      "test",
    );
    expect(c.sources.map((s) => [s.id, s.kind])).toEqual([
      ["source1", "serial"],
      ["garage", "tcp"],
      ["source3", "simulator"],
    ]);
    const [home, garage, sim] = c.sources;
    expect(home).toMatchObject({ serial: SERIAL_9600_7E1, receivedTimeoutS: 60, refreshRateS: 10 });
    expect(home?.decryptionKey).toEqual(Buffer.from(KEY_HEX, "hex"));
    expect(home?.meters).toEqual([{ type: "gas", channel: null, refreshRateS: 300, aggregate: "last" }]);
    expect(garage).toMatchObject({ receivedTimeoutS: 20, meters: [] });
    expect(garage?.decryptionKey).toEqual(Buffer.from(AUTH_HEX, "hex"));
    expect(sim).toMatchObject({ aggregate: "mean", refreshRateS: 10 });
    expect(sim?.meters[0]).toEqual({ type: "gas", channel: null, refreshRateS: 300, aggregate: "mean" });
  });

  it("nativeApi: per source, the top level as every source's default, and --no-native-api over both", () => {
    const raw = {
      nativeApi: false,
      sources: [
        { id: "a", simulate: "5.0" },
        { id: "b", simulate: "5.0", nativeApi: true },
      ],
    };
    expect(parseConfig(raw, "test").sources.map((s) => s.nativeApi)).toEqual([false, true]);
    expect(parseConfig({ sources: raw.sources }, "test").sources.map((s) => s.nativeApi)).toEqual([
      true,
      true,
    ]);
    const file = tempFile("sources:\n  - simulate: '5.0'\n    nativeApi: true\n  - simulate: emucs\n");
    expect(loadConfig(file, { nativeApi: false }).sources.map((s) => s.nativeApi)).toEqual([false, false]);
    expect(configError(() => parseConfig({ nativeApi: "no" }, "test")).message).toContain("nativeApi");
  });

  it("fills a meter entry from its type-wide entry, then from the source", () => {
    const s = only(
      parseConfig(
        {
          refreshRate: 1,
          meters: [
            { type: "electricity", channel: 0, aggregate: "max" },
            { type: "electricity", refreshRate: 10, aggregate: "mean" },
            { type: "water", channel: 2 },
          ],
        },
        "test",
      ),
    );
    expect(s.meters).toEqual([
      { type: "electricity", channel: 0, refreshRateS: 10, aggregate: "max" },
      { type: "electricity", channel: null, refreshRateS: 10, aggregate: "mean" },
      { type: "water", channel: 2, refreshRateS: 1, aggregate: "last" },
    ]);
  });

  it("maps every numeric-looking version name back from YAML's number unambiguously", () => {
    for (const name of VERSION_NAMES.filter((n) => /^\d+\.\d+$/.test(n))) {
      expect(only(parseConfig({ simulate: Number(name) }, "test"))).toMatchObject({ version: name });
    }
  });
});

describe("meterPolicy", () => {
  const source = only(
    parseConfig(
      {
        refreshRate: 5,
        aggregate: "last",
        meters: [
          { type: "gas", refreshRate: 300, aggregate: "max" },
          { type: "gas", channel: 2, refreshRate: 60 },
          { type: "electricity", channel: 0, aggregate: "mean" },
        ],
      },
      "test",
    ),
  );
  it.each<[MeterType, number, number, string]>([
    ["gas", 2, 60, "max"], // type + channel, aggregate from the type's entry
    ["gas", 1, 300, "max"], // the type's entry
    ["electricity", 0, 5, "mean"], // type + channel, rate from the source
    ["electricity", 1, 5, "last"], // slave electricity: no entry for channel 1
    ["water", 3, 5, "last"], // the source's defaults
  ])("%s on channel %i: every %i s, %s", (type, channel, refreshRateS, aggregate) => {
    expect(meterPolicy(source, type, channel)).toEqual({ refreshRateS, aggregate });
  });
});

describe("resolveNetwork", () => {
  it.each<[string, Record<string, unknown>, { host: string; mdns: boolean }]>([
    ["the embedded simulator stays local and silent", {}, { host: "127.0.0.1", mdns: false }],
    [
      "a real meter binds everywhere and announces",
      { serialPort: "/dev/p1" },
      { host: "0.0.0.0", mdns: true },
    ],
    ["explicit keys win", { host: "0.0.0.0", mdns: true }, { host: "0.0.0.0", mdns: true }],
    ["asking the simulator to announce opens the bind", { mdns: true }, { host: "0.0.0.0", mdns: true }],
    [
      "a real meter may stay silent",
      { serialPort: "/dev/p1", mdns: false },
      { host: "0.0.0.0", mdns: false },
    ],
    [
      "one real source among simulators counts as real",
      { sources: [{ simulate: "5.0" }, { tcp: "h:1" }] },
      { host: "0.0.0.0", mdns: true },
    ],
  ])("%s", (_, raw, expected) => {
    expect(resolveNetwork(parseConfig(raw, "test"))).toEqual(expected);
  });
});

describe("parseConfig: every problem names its key", () => {
  const cases: [string, unknown, string][] = [
    ["a list at the top level", [1, 2], "(top level)"],
    ["text at the top level", "serialPort", "(top level)"],
    ["unknown key", { serialport: "/dev/p1" }, "serialport"],
    ["typo", { recievedTimeout: 10 }, "recievedTimeout"],
    [
      "gateway key inside a source",
      { sources: [{ serialPort: "/dev/p1", grpcPort: 1 }] },
      "sources[0].grpcPort",
    ],
    ["unknown meter key", { meters: [{ type: "gas", refresh: 10 }] }, "meters[0].refresh"],
    ["unknown baud key", { serialPort: "/dev/p1", baud: { baudrate: 9600 } }, "baud.baudrate"],
    ["name too long", { name: "x".repeat(64) }, "name"],
    ["empty name", { name: " " }, "name"],
    ["bad host", { host: "not a host!" }, "host"],
    ["grpcPort above 65535", { grpcPort: 70000 }, "grpcPort"],
    ["grpcPort negative", { grpcPort: -1 }, "grpcPort"],
    ["grpcPort fractional", { grpcPort: 1.5 }, "grpcPort"],
    ["apiPort as text", { apiPort: "6053" }, "apiPort"],
    ["same gRPC and API port", { grpcPort: 7000, apiPort: 7000 }, "apiPort"],
    ["mdns as text", { mdns: "yes" }, "mdns"],
    ["receivedTimeout 0", { receivedTimeout: 0 }, "receivedTimeout"],
    ["receivedTimeout negative", { receivedTimeout: -5 }, "receivedTimeout"],
    ["refreshRate negative", { refreshRate: -1 }, "refreshRate"],
    ["unknown aggregate", { aggregate: "avg" }, "aggregate"],
    ["two connection keys", { serialPort: "/dev/p1", tcp: "h:1" }, "tcp"],
    ["tcp without port", { tcp: "192.168.1.50" }, "tcp"],
    ["tcp port 0", { tcp: "192.168.1.50:0" }, "tcp"],
    ["tcp port too large", { tcp: "host:70000" }, "tcp"],
    ["tcp IPv6 without brackets", { tcp: "fd00::5" }, "tcp"],
    ["unknown version", { simulate: "6.0" }, "simulate"],
    ["unknown dataRequest", { serialPort: "/dev/p1", dataRequest: "cts" }, "dataRequest"],
    ["dataRequest on tcp", { tcp: "h:1", dataRequest: "rts" }, "dataRequest"],
    ["fanout port above 65535", { serialPort: "/dev/p1", fanout: 70000 }, "fanout"],
    ["fanout as true", { serialPort: "/dev/p1", fanout: true }, "fanout"],
    ["fanout on the gRPC port", { serialPort: "/dev/p1", fanout: 50051 }, "fanout"],
    ["fanout beside sources", { fanout: 2001, sources: [{ serialPort: "/dev/p1" }] }, "fanout"],
    [
      "two sources on one fanout port",
      {
        sources: [
          { serialPort: "/dev/p1", fanout: 2001 },
          { tcp: "h:1", fanout: "0.0.0.0:2001" },
        ],
      },
      "sources[1].fanout",
    ],
    ["unknown version as number", { simulate: 4.4 }, "simulate"],
    ["bad baud rate", { serialPort: "/dev/p1", baud: 4800 }, "baud"],
    ["bad data bits", { serialPort: "/dev/p1", baud: { baudRate: 9600, dataBits: 6 } }, "baud.dataBits"],
    ["baud beside tcp", { tcp: "h:1", baud: 9600 }, "baud"],
    ["baud with the implicit simulator", { baud: 9600 }, "baud"],
    ["authenticationKey without decryptionKey", { authenticationKey: AUTH_HEX }, "authenticationKey"],
    ["unknown meter type", { meters: [{ type: "solar" }] }, "meters[0].type"],
    ["meter channel 5", { meters: [{ type: "gas", channel: 5 }] }, "meters[0].channel"],
    ["meters not a list", { meters: { type: "gas" } }, "meters"],
    ["duplicate meter entry", { meters: [{ type: "gas" }, { type: "gas", refreshRate: 1 }] }, "meters[1]"],
    ["sources not a list", { sources: { serialPort: "/dev/p1" } }, "sources"],
    ["empty sources", { sources: [] }, "sources"],
    ["source entry not a mapping", { sources: ["/dev/p1"] }, "sources[0]"],
    ["source without connection", { sources: [{ id: "a" }] }, "sources[0]"],
    ["connection key beside sources", { serialPort: "/dev/p1", sources: [{ tcp: "h:1" }] }, "serialPort"],
    ["bad source id", { sources: [{ id: "Home", tcp: "h:1" }] }, "sources[0].id"],
    [
      "duplicate source id",
      {
        sources: [
          { id: "a", tcp: "h:1" },
          { id: "a", tcp: "h:2" },
        ],
      },
      "sources[1].id",
    ],
    [
      "explicit id taken by a default one",
      { sources: [{ id: "source2", tcp: "h:1" }, { tcp: "h:2" }] },
      "sources[1]",
    ],
    [
      "one serial port twice",
      { sources: [{ serialPort: "/dev/p1" }, { id: "b", serialPort: "/dev/p1" }] },
      "sources[1].serialPort",
    ],
    [
      "bad key in a later source",
      { sources: [{ tcp: "h:1" }, { tcp: "h:2", decryptionKey: KEY_HEX.slice(0, 30) }] },
      "sources[1].decryptionKey",
    ],
    [
      "per-source receivedTimeout",
      { sources: [{ tcp: "h:1", receivedTimeout: 0 }] },
      "sources[0].receivedTimeout",
    ],
  ];
  it.each(cases)("%s -> %s", (_, raw, key) => {
    const e = configError(() => parseConfig(raw, "p1.yaml"));
    expect(e.context?.key).toBe(key);
    expect(e.context?.origin).toBe("p1.yaml");
    expect(e.message.startsWith("p1.yaml: ")).toBe(true);
  });

  it("says what it expected and what arrived", () => {
    const e = configError(() =>
      parseConfig(
        { sources: [{ tcp: "h:1" }, { tcp: "h:2", decryptionKey: KEY_HEX.slice(0, 30) }] },
        "p1.yaml",
      ),
    );
    expect(e.message).toBe(
      "p1.yaml: sources[1].decryptionKey: expected 32 hex digits (16 bytes), got 30 characters",
    );
  });

  it("hints at the key a typo meant", () => {
    expect(configError(() => parseConfig({ serial_port: "/dev/p1" }, "t")).message).toContain('"serialPort"');
    expect(configError(() => parseConfig({ recievedTimeout: 1 }, "t")).message).toContain(
      '"receivedTimeout"',
    );
    expect(configError(() => parseConfig({ additionalKey: AUTH_HEX }, "t")).message).toContain(
      "authenticationKey",
    );
  });

  it("lists the valid versions", () => {
    const e = configError(() => parseConfig({ simulate: "6.0" }, "t"));
    for (const name of VERSION_NAMES) expect(e.message).toContain(name);
  });

  it("reports every problem at once", () => {
    const e = configError(() => parseConfig({ grpcPort: -1, aggregate: "avg", serialprot: 1 }, "t"));
    const problems = e.context?.problems as { key: string }[];
    expect(problems.map((p) => p.key).sort()).toEqual(["aggregate", "grpcPort", "serialprot"]);
  });
});

describe("secrets never appear in errors", () => {
  const bad: [string, string, unknown][] = [
    ["decryptionKey", "too short", KEY_HEX.slice(0, 30)],
    ["decryptionKey", "too long", `${KEY_HEX}AB`],
    ["decryptionKey", "not hex", `${KEY_HEX.slice(0, 31)}Z`],
    ["decryptionKey", "digits only, read by YAML as a number", 1234567890123456],
    ["authenticationKey", "too short", AUTH_HEX.slice(0, 28)],
    ["authenticationKey", "not hex", `G${AUTH_HEX.slice(1)}`],
    ["apiEncryptionKey", "16 bytes", Buffer.alloc(16, 9).toString("base64")],
    ["apiEncryptionKey", "not base64", `${API_KEY.slice(0, 40)}!!!!`],
    ["apiEncryptionKey", "33 bytes", Buffer.alloc(33, 5).toString("base64")],
  ];
  it.each(bad)("%s %s", (key, _, value) => {
    const raw = { decryptionKey: KEY_HEX, [key]: value };
    const e = configError(() => parseConfig(raw, "p1.yaml"));
    expect(e.context?.key).toBe(key);
    const text = `${e.message}\n${JSON.stringify(e.context)}`;
    expect(text).not.toContain(String(value));
    // Nor any recognisable part of it.
    expect(text).not.toContain(String(value).slice(0, 12));
  });

  it("in a YAML syntax error", () => {
    const path = tempFile(`name: gw\ndecryptionKey: "${KEY_HEX}\n`);
    const e = configError(() => loadConfig(path, {}));
    expect(e.context?.key).toBe("(yaml)");
    expect(`${e.message}${JSON.stringify(e.context)}`).not.toContain(KEY_HEX.slice(0, 12));
  });

  it("in a bad flag", () => {
    const e = configError(() => loadConfig(undefined, { decryptionKey: KEY_HEX.slice(2) }));
    expect(e.context).toMatchObject({ origin: "command line", key: "decryptionKey" });
    expect(e.message).not.toContain(KEY_HEX.slice(2, 14));
  });

  it("redactConfig replaces every key and stays JSON", () => {
    const c = parseConfig(
      {
        apiEncryptionKey: API_KEY,
        decryptionKey: KEY_HEX,
        sources: [
          { tcp: "h:1", authenticationKey: AUTH_HEX },
          { serialPort: "/dev/p1", baud: 9600 },
        ],
      },
      "t",
    );
    const r = redactConfig(c);
    expect(r.apiEncryptionKey).toBe("***");
    expect(r.sources[0]).toMatchObject({
      decryptionKey: "***",
      authenticationKey: "***",
      host: "h",
      port: 1,
    });
    expect(r.sources[1]).toMatchObject({ authenticationKey: null, serial: SERIAL_9600_7E1 });
    const json = JSON.stringify(r);
    expect(JSON.parse(json)).toEqual(r);
    for (const secret of [KEY_HEX, AUTH_HEX, API_KEY])
      expect(json.toUpperCase()).not.toContain(secret.toUpperCase());
    expect(json).not.toContain("Buffer");
    expect(c.apiEncryptionKey).toEqual(Buffer.alloc(32, 7)); // the original is untouched
  });
});

describe("loadConfig: files", () => {
  it("loads the example file", () => {
    const c = loadConfig(EXAMPLE, {});
    expect(c.name).toBe("P1 meter");
    expect(only(c)).toMatchObject({ kind: "serial", path: "/dev/ttyUSB0", serial: "auto" });
    expect(meterPolicy(only(c), "electricity", 0)).toEqual({ refreshRateS: 10, aggregate: "mean" });
  });

  it("documents every key in the example", () => {
    const text = readFileSync(EXAMPLE, "utf8");
    const keys = [
      ...Object.keys(GATEWAY_KEYS),
      ...Object.keys(SOURCE_KEYS),
      ...Object.keys(METER_KEYS),
      "sources",
    ];
    for (const key of keys) expect(text, key).toMatch(new RegExp(`\\b${key}:`));
  });

  it("an empty file (or only comments) is all defaults", () => {
    expect(loadConfig(tempFile(""), {})).toEqual(parseConfig({}, "t"));
    expect(loadConfig(tempFile("# nothing yet\n"), {})).toEqual(parseConfig({}, "t"));
  });

  it("no file at all is all defaults", () => {
    expect(loadConfig(undefined, {})).toEqual(parseConfig({}, "t"));
  });

  it("reads YAML's unquoted 5.0 as version 5.0", () => {
    expect(only(loadConfig(tempFile("simulate: 5.0\n"), {}))).toMatchObject({ version: "5.0" });
  });

  it("resolves a replayed file against the configuration's directory", () => {
    const path = tempFile("file: captures/a.txt\n");
    expect(only(loadConfig(path, {}))).toMatchObject({ path: join(dirname(path), "captures/a.txt") });
  });

  it.each<[string, string, () => string]>([
    ["missing file", "(file)", () => join(TMP, "nope.yaml")],
    ["a directory", "(file)", () => TMP],
    ["YAML syntax", "(yaml)", () => tempFile("a: [1, 2\n")],
    ["duplicate key", "(yaml)", () => tempFile("name: a\nname: b\n")],
    ["unresolved tag (!secret)", "(yaml)", () => tempFile("decryptionKey: !secret p1_key\n")],
    ["tabs", "(yaml)", () => tempFile("\tname: a\n")],
    ["two documents", "(yaml)", () => tempFile("name: a\n---\nname: b\n")],
    ["too large", "(file)", () => tempFile(`# ${"x".repeat(1024 * 1024)}\n`)],
  ])("%s -> %s", (_, key, make) => {
    const path = make();
    const e = configError(() => loadConfig(path, {}));
    expect(e.context).toMatchObject({ key, origin: path });
    expect(e.message.startsWith(path)).toBe(true);
  });

  it("names the YAML error's line", () => {
    const path = tempFile("name: a\ngrpcPort: 1\nname: b\n");
    const e = configError(() => loadConfig(path, {}));
    expect(e.context?.line).toBe(3);
    expect(e.message.startsWith(`${path}:3: not valid YAML`)).toBe(true);
  });

  it("names the line of a bad value", () => {
    const path = tempFile("name: gw\nsources:\n  - tcp: h:1\n  - tcp: h:2\n    receivedTimeout: 0\n");
    const e = configError(() => loadConfig(path, {}));
    expect(e.context?.key).toBe("sources[1].receivedTimeout");
    expect(e.message).toBe(`${path}:5: sources[1].receivedTimeout: expected more than 0 seconds, got 0`);
  });
});

describe("loadConfig: flags override the file", () => {
  const file = `
name: from-file
decryptionKey: "${KEY_HEX}"
receivedTimeout: 30
meters:
  - type: gas
    refreshRate: 60
sources:
  - id: home
    serialPort: /dev/p1
    decryptionKey: "${AUTH_HEX}"
    receivedTimeout: 90
  - id: garage
    tcp: 10.0.0.7:2001
`;

  it("without a source flag keeps the sources; a per-source key flag wins everywhere", () => {
    const c = loadConfig(tempFile(file), { receivedTimeout: "15", name: "gw", decryptionKey: AUTH_HEX });
    expect(c.name).toBe("gw");
    expect(
      c.sources.map((s) => [s.id, s.receivedTimeoutS, s.decryptionKey?.toString("hex").toUpperCase()]),
    ).toEqual([
      ["home", 15, AUTH_HEX],
      ["garage", 15, AUTH_HEX],
    ]);
  });

  it("a source flag replaces every configured source, keeping the top-level keys", () => {
    const c = loadConfig(tempFile(file), { tcp: "192.168.1.9:23" });
    const s = only(c);
    expect(s).toMatchObject({ kind: "tcp", id: "tcp", host: "192.168.1.9", port: 23, receivedTimeoutS: 30 });
    expect(s.decryptionKey).toEqual(Buffer.from(KEY_HEX, "hex"));
    expect(s.meters).toEqual([{ type: "gas", channel: null, refreshRateS: 60, aggregate: "last" }]);
  });

  it("a source flag replaces a top-level source and drops its baud when not serial", () => {
    const path = tempFile("serialPort: /dev/p1\nbaud: 9600\nid: home\n");
    expect(only(loadConfig(path, { simulate: "4.2" }))).toMatchObject({ kind: "simulator", id: "simulator" });
    expect(only(loadConfig(path, { serialPort: "/dev/p2" }))).toMatchObject({
      path: "/dev/p2",
      serial: SERIAL_9600_7E1,
    });
  });

  it.each<[string, ConfigOverrides, Partial<GatewayConfig>]>([
    ["host", { host: "0.0.0.0" }, { host: "0.0.0.0" }],
    ["ports as the flag's text", { grpcPort: "0", apiPort: "7000" }, { grpcPort: 0, apiPort: 7000 }],
    ["ports as numbers", { grpcPort: 1, apiPort: 2 }, { grpcPort: 1, apiPort: 2 }],
    ["mdns", { mdns: false }, { mdns: false }],
    ["undefined = not given", { host: undefined, mdns: undefined }, { host: null, mdns: null }],
  ])("%s", (_, overrides, expected) => {
    expect(loadConfig(undefined, overrides)).toMatchObject(expected);
  });

  it("dataRequest and fanout (a flag's port as text)", () => {
    const c = loadConfig(undefined, { serialPort: "/dev/p1", dataRequest: "both", fanout: "2001" });
    expect(only(c)).toMatchObject({ dataRequest: "both", fanout: { host: null, port: 2001 } });
    const path = tempFile("sources:\n  - serialPort: /dev/p1\n    dataRequest: rts\n");
    expect(only(loadConfig(path, { dataRequest: "dtr" }))).toMatchObject({ dataRequest: "dtr" });
    expect(configError(() => loadConfig(undefined, { dataRequest: "up" })).context?.key).toBe("dataRequest");
  });

  it("apiEncryptionKey", () => {
    expect(loadConfig(undefined, { apiEncryptionKey: API_KEY }).apiEncryptionKey).toEqual(
      Buffer.alloc(32, 7),
    );
  });

  it("a file flag is relative to the working directory; - (stdin) stays as it is", () => {
    expect(only(loadConfig(tempFile("name: a\n"), { file: "x.txt" }))).toMatchObject({
      path: resolve("x.txt"),
    });
    expect(only(loadConfig(tempFile("name: a\n"), { file: "-" }))).toMatchObject({ path: "-" });
    expect(only(loadConfig(tempFile("file: '-'\n"), {}))).toMatchObject({ path: "-" });
  });

  it.each<[string, ConfigOverrides, string]>([
    ["port text", { grpcPort: "abc" }, "grpcPort"],
    ["port range", { apiPort: "70000" }, "apiPort"],
    ["two source flags", { serialPort: "/dev/p1", tcp: "h:1" }, "tcp"],
    ["tcp without port", { tcp: "meter.local" }, "tcp"],
    ["unknown version", { simulate: "9.9" }, "simulate"],
    ["receivedTimeout 0", { receivedTimeout: "0" }, "receivedTimeout"],
    ["bad base64", { apiEncryptionKey: "not base64!" }, "apiEncryptionKey"],
  ])("bad flag: %s -> %s", (_, overrides, key) => {
    const e = configError(() => loadConfig(tempFile("name: a\n"), overrides));
    expect(e.context).toMatchObject({ origin: "command line", key });
    expect(e.message.startsWith(`command line: ${key}: `)).toBe(true);
  });

  it("the file must be valid even where a flag replaces the bad part", () => {
    const path = tempFile("serialPort: /dev/p1\nbaud: 4800\n");
    const e = configError(() => loadConfig(path, { tcp: "h:1" }));
    expect(e.context).toMatchObject({ origin: path, key: "baud" });
  });

  it("a clash between the file and a flag names both", () => {
    const e = configError(() => loadConfig(tempFile("grpcPort: 7000\n"), { apiPort: 7000 }));
    expect(e.context?.key).toBe("apiPort");
    expect(e.message).toContain("command line");
  });
});

describe("tables", () => {
  it("dataRequest takes exactly the lines the serial source knows", () => {
    expect([...DATA_REQUESTS].sort()).toEqual([...DATA_REQUEST_CHOICES].sort());
  });

  it("meter types are the meter kinds of src/meters", () => {
    const same: [MeterType] extends [MeterKind] ? ([MeterKind] extends [MeterType] ? true : false) : false =
      true;
    expect(same).toBe(true);
  });
});
