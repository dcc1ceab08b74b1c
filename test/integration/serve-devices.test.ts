import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, ThirdPartyClient } from "../api/native/helpers.ts";
import { BIN, ROOT } from "../helpers/cli.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** Starts `p1-gateway serve ARGS` (simulators only: loopback, no mDNS) and waits for its native API lines. */
async function startServe(
  args: readonly string[],
  devices: number,
): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--grpc-port", "0", "--status-interval", "0", ...args],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  cleanups.push(() => child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve printed no native API lines:\n${out}\n${err}`)),
      15_000,
    );
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const found = [...out.matchAll(/^native API\s+\S+:(\d+)/gm)].map((m) => Number(m[1]));
      if (found.length === devices && /^mDNS /m.test(out)) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.once("exit", (code) => reject(new Error(`serve exited (${code}):\n${out}\n${err}`)));
  });
  return { child, ports };
}

describe("p1-gateway serve with several sources", () => {
  it("serves one native-API device per source, each on its own port with its own name, MAC and entities", async () => {
    const dir = mkdtempSync(join(tmpdir(), "p1-devices-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, "p1.yaml");
    writeFileSync(
      config,
      'name: P1\napiPort: 0\nsources:\n  - simulate: "5.0"\n    id: house\n  - simulate: emucs\n    id: garage\n',
    );
    const { child, ports } = await startServe(["--config", config], 2);
    expect(new Set(ports).size).toBe(2);
    const clients = ports.map((p) => new ThirdPartyClient(p));
    for (const c of clients) cleanups.push(() => c.close());
    await eventually(() => clients.every((c) => c.initialized), "both devices initialized", 15_000);
    const [house, garage] = clients as [ThirdPartyClient, ThirdPartyClient];
    expect(house.deviceInfo).toMatchObject({ name: "p1-house", friendlyName: "P1 house" });
    expect(garage.deviceInfo).toMatchObject({ name: "p1-garage", friendlyName: "P1 garage" });
    expect(house.deviceInfo?.macAddress).not.toBe(garage.deviceInfo?.macAddress);
    const ids = (c: ThirdPartyClient) => Object.values(c.client.entities).map((e) => e.config.objectId);
    expect(ids(house)).toContain("house_link_ok");
    expect(ids(house)).not.toContain("garage_link_ok");
    expect(ids(garage)).toContain("garage_link_ok");
    expect(ids(garage)).not.toContain("house_link_ok");
    const exited = once(child, "exit");
    child.kill("SIGINT");
    const [code] = await exited;
    expect(code).toBe(0);
  });

  it("a source with nativeApi: false gets no device; --no-native-api turns the API off", async () => {
    const dir = mkdtempSync(join(tmpdir(), "p1-devices-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, "p1.yaml");
    writeFileSync(
      config,
      'name: P1\napiPort: 0\nsources:\n  - simulate: "5.0"\n    id: house\n    nativeApi: false\n  - simulate: emucs\n    id: garage\n',
    );
    const { ports } = await startServe(["--config", config], 1);
    const garage = new ThirdPartyClient(ports[0] as number);
    cleanups.push(() => garage.close());
    await eventually(() => garage.initialized, "the one device initialized", 15_000);
    expect(garage.deviceInfo).toMatchObject({ name: "p1-garage" });
    const off = await startServe(["--config", config, "--no-native-api"], 0);
    expect(off.ports).toEqual([]);
  });
});
