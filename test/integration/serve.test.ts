import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, ThirdPartyClient } from "../api/native/helpers.ts";
import { ROOT, runCli } from "../helpers/cli.ts";
import { Collector, GatewayTestClient } from "../helpers/grpc-client.ts";
import { killServed, startServe } from "../helpers/serve.ts";

afterEach(() => {
  killServed();
});

/** Python with grpcio, protoc and the gRPC Python plugin (Debian packages), or why not. */
function pythonGrpc(): string | null {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import grpc, google.protobuf"], { stdio: "ignore" });
    execFileSync("protoc", ["--version"], { stdio: "ignore" });
    execFileSync("sh", ["-c", "command -v grpc_python_plugin"], { stdio: "ignore" });
    return null;
  } catch {
    return "python3-grpcio, protobuf-compiler and protobuf-compiler-grpc are not installed";
  }
}
const pythonMissing = pythonGrpc();
if (pythonMissing)
  console.warn(`generated Python client test skipped: ${pythonMissing} (.ci/run installs them)`);

describe("p1-gateway serve", () => {
  it("with no source serves the embedded simulator on loopback; a gRPC client streams it; Ctrl-C stops cleanly", async () => {
    const { child, address, output } = await startServe([]);
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(output()).toContain("simulator:5.0");
    const client = new GatewayTestClient(address);
    try {
      const states = new Collector(client.streamStates());
      await states.until(
        (items) => items.some((s) => s.entity_id.endsWith("_emeter_delivery_tariff1")),
        15_000,
      );
      const entities = await client.listEntities();
      expect(entities.length).toBeGreaterThan(20);
      const info = await client.getInfo();
      expect(info.sources[0]?.protocol_version).toBe("5.0");
    } finally {
      client.close();
    }
    const exited = once(child, "exit");
    child.kill("SIGINT");
    const [code] = await exited;
    expect(code, output()).toBe(0);
  });

  it("serves Home Assistant's ESPHome native API: a third-party ESPHome client lists the meter and gets states", async () => {
    const { address, apiPort, output } = await startServe([]);
    expect(apiPort, output()).toBeGreaterThan(0);
    // Connect once the meter's entities exist: a device's entity set is fixed per connection.
    const grpcClient = new GatewayTestClient(address);
    try {
      const states = new Collector(grpcClient.streamStates());
      await states.count(1, 15_000);
    } finally {
      grpcClient.close();
    }
    const esp = new ThirdPartyClient(apiPort);
    try {
      await eventually(() => esp.initialized, "client initialised", 15_000);
      expect(esp.deviceInfo).toMatchObject({ manufacturer: "p1-gateway", friendlyName: "p1-gateway" });
      const tariff = Object.values(esp.client.entities).find((e) =>
        e.config.objectId.endsWith("_emeter_delivery_tariff1"),
      );
      expect(tariff?.config).toMatchObject({ unitOfMeasurement: "kWh", deviceClass: "energy" });
      await eventually(
        () => (esp.states.get(tariff?.config.key as number)?.length ?? 0) > 0,
        "a tariff state",
        15_000,
      );
      expect(esp.states.get(tariff?.config.key as number)?.at(-1)?.state).toBeGreaterThan(0);

      // Every gateway entity is an ESPHome entity with the same metadata (the gRPC catalogue is the reference).
      const catalogueClient = new GatewayTestClient(address);
      const catalogue = await catalogueClient.listEntities().finally(() => catalogueClient.close());
      const STATE_CLASS: Record<string, number> = {
        STATE_CLASS_UNSPECIFIED: 0,
        STATE_CLASS_MEASUREMENT: 1,
        STATE_CLASS_TOTAL_INCREASING: 2,
      };
      const byObjectId = new Map(Object.values(esp.client.entities).map((e) => [e.config.objectId, e]));
      for (const g of catalogue) {
        const e = byObjectId.get(g.id);
        expect(e, g.id).toBeDefined();
        expect(e?.config.name, g.id).toBeTypeOf("string");
        expect(e?.config.entityCategory ?? 0, g.id).toBe(g.diagnostic ? 2 : 0);
        if (g.kind === "ENTITY_KIND_NUMBER") {
          expect(e?.type, g.id).toBe("Sensor");
          expect(e?.config, g.id).toMatchObject({
            unitOfMeasurement: g.unit === "m3" ? "m³" : g.unit,
            deviceClass: g.device_class,
            stateClass: STATE_CLASS[g.state_class],
            accuracyDecimals: g.decimals,
          });
        } else {
          expect(e?.type, g.id).toBe("TextSensor");
        }
      }
      // Plus one link sensor per source, and nothing else.
      expect(byObjectId.size).toBe(catalogue.length + 1);
      expect(byObjectId.get("simulator_link_ok")?.type).toBe("BinarySensor");
    } finally {
      esp.close();
    }
  });

  it("with --api-encryption-key serves Noise clients with the key, refuses a wrong key and goes on", async () => {
    const key = randomBytes(32);
    const { apiPort, output } = await startServe(["--api-encryption-key", key.toString("base64")]);
    expect(output()).toContain("and the encryption key");
    const wrong = new ThirdPartyClient(apiPort, randomBytes(32));
    try {
      await eventually(() => wrong.errors.length > 0, "wrong key refused", 15_000);
      expect(wrong.initialized).toBe(false);
    } finally {
      wrong.close();
    }
    const plain = new ThirdPartyClient(apiPort);
    try {
      await eventually(() => plain.errors.length > 0, "plaintext refused", 15_000);
      expect(plain.initialized).toBe(false);
    } finally {
      plain.close();
    }
    const right = new ThirdPartyClient(apiPort, key);
    try {
      await eventually(() => right.initialized, "client with the key initialised", 15_000);
      expect(Object.keys(right.client.entities).length).toBeGreaterThan(0);
    } finally {
      right.close();
    }
  });

  it.skipIf(pythonMissing !== null)(
    "a Python client generated from proto/ lists entities and streams states",
    async () => {
      const { address } = await startServe(["--simulate", "emucs"]);
      const gen = mkdtempSync(join(tmpdir(), "p1-py-"));
      try {
        execFileSync("protoc", [
          "-I",
          join(ROOT, "proto"),
          `--python_out=${gen}`,
          `--grpc_python_out=${gen}`,
          `--plugin=protoc-gen-grpc_python=${execFileSync("which", ["grpc_python_plugin"]).toString().trim()}`,
          join(ROOT, "proto/p1gateway/v1/gateway.proto"),
        ]);
        const out = execFileSync("/usr/bin/python3", [join(ROOT, "proto/examples/client.py"), address, "5"], {
          env: { ...process.env, PYTHONPATH: gen },
          timeout: 30_000,
        }).toString();
        expect(out).toMatch(/^gateway p1-gateway /m);
        expect(out).toMatch(
          /^entity electricity_0_\S+_emeter_delivery_tariff1 unit=kWh device_class=energy$/m,
        );
        expect(out.match(/^state /gm)?.length).toBe(5);
      } finally {
        rmSync(gen, { recursive: true, force: true });
      }
    },
  );

  it("configuration errors name the key and exit 2, without echoing keys", async () => {
    const dir = mkdtempSync(join(tmpdir(), "p1-cfg-"));
    try {
      const bad = join(dir, "p1.yaml");
      writeFileSync(
        bad,
        "serialPort: /dev/ttyUSB0\ndecryptionKey: 0123456789abcdef0123\nrecievedTimeout: 10\n",
      );
      const r = await runCli(["serve", "--config", bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("decryptionKey");
      expect(r.stderr).toContain("recievedTimeout");
      expect(r.stderr).not.toContain("0123456789abcdef0123");
      const missing = await runCli(["serve", "--config", join(dir, "nope.yaml")]);
      expect(missing.code).toBe(2);
      expect(existsSync(join(dir, "nope.yaml"))).toBe(false);
      const both = await runCli(["serve", "--simulate", "5.0", "--tcp", "127.0.0.1:1"]);
      expect(both.code).toBe(2);
      const version = await runCli(["serve", "--simulate", "9.9"]);
      expect(version.code).toBe(2);
      expect(version.stderr).toContain("5.0");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--fanout re-serves the meter's raw bytes: a TCP reader gets whole telegrams", async () => {
    const { child, address, output } = await startServe(["--simulate", "5.0", "--fanout", "0"]);
    await eventually(() => /^raw fan-out\s+127\.0\.0\.1:\d+/m.test(output()), "the fan-out line", 15_000);
    const port = Number(/^raw fan-out\s+127\.0\.0\.1:(\d+)/m.exec(output())?.[1]);
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    try {
      // From the first '/' on: a whole telegram, header to CRC, exactly as the simulated meter wrote it.
      await eventually(() => /\/[^\r\n]+\r\n[\s\S]*?![0-9A-F]{4}\r\n/.test(text), "a whole telegram", 15_000);
      // GetInfo counts the reader (per source and in the totals).
      const client = new GatewayTestClient(address);
      try {
        const info = await client.getInfo();
        expect(info.counters.fanout_readers).toBe(1);
        expect(info.sources[0]?.counters.fanout_readers).toBe(1);
        expect(info.counters.fanout_cut_off).toBe(0);
      } finally {
        client.close();
      }
    } finally {
      socket.destroy();
    }
    child.kill("SIGINT");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });

  it("--help documents every option", async () => {
    const r = await runCli(["serve", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of [
      "--config",
      "--serial",
      "--tcp",
      "--file",
      "--simulate",
      "--host",
      "--grpc-port",
      "--api-port",
      "--mdns",
      "--data-request",
      "--fanout",
      "--mdns-interface",
    ])
      expect(r.stdout.toString()).toContain(flag);
  });
});
