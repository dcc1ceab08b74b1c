import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "../helpers/cli.ts";

// mDNS end to end, as Home Assistant meets it: the real `p1-gateway serve` announces in one network
// namespace, Python's zeroconf (HA's library) and `p1-gateway discover` (bonjour-service) browse from
// another, and the announced address and port lead to a working native-API session. The two namespaces
// exist only for this test and are joined by a veth pair with 224.0.0.0/4 routed to it: every multicast
// packet stays on that pair, never on the host's network (every mDNS process runs under `ip netns exec`).

const PID = process.pid;
/** Names carry the pid, so parallel runs never collide and leftovers of dead runs can be recognised. */
const NS_PREFIX = "p1mdns-";
const SERVER_NS = `${NS_PREFIX}s-${PID}`;
const CLIENT_NS = `${NS_PREFIX}c-${PID}`;
// Interface names are at most 15 characters (IFNAMSIZ - 1).
const SERVER_IF = `p1m${PID}s`.slice(0, 15);
const CLIENT_IF = `p1m${PID}c`.slice(0, 15);
// Private addresses that exist only on the veth pair inside the two namespaces.
const SERVER_ADDR = "10.231.7.1";
const CLIENT_ADDR = "10.231.7.2";
// A second address on the server's veth where nothing listens: serve bound to SERVER_ADDR must not announce it.
const SERVER_OTHER_ADDR = "10.231.8.1";
const SYSTEM_PYTHON = "/usr/bin/python3";
// Generous: the whole suite shares two cores; a step that hangs still fails well within the test timeout.
const STEP_TIMEOUT_MS = 20_000;

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { timeout: STEP_TIMEOUT_MS, stdio: ["ignore", "pipe", "pipe"] }).toString();
}

function deleteNamespace(name: string): void {
  try {
    run("ip", ["netns", "del", name]);
  } catch {
    // Already gone: deleting a namespace also deletes its end of the veth pair, and so the pair.
  }
}

function cleanup(): void {
  deleteNamespace(SERVER_NS);
  deleteNamespace(CLIENT_NS);
}

/** Removes namespaces this test left behind in runs that were killed before their cleanup ran. */
function sweepStale(): void {
  for (const line of run("ip", ["netns", "list"]).split("\n")) {
    const m = /^(p1mdns-[sc]-(\d+))\b/.exec(line);
    if (m === null) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      deleteNamespace(m[1] as string);
    }
  }
}

/** Why the namespaces cannot be made here, or null when they can. */
function whyNot(): string | null {
  if (process.platform !== "linux" || process.getuid?.() !== 0)
    return "needs root on Linux to create network namespaces";
  try {
    run("ip", ["-V"]);
  } catch {
    return "needs `ip` (Debian: apt-get install iproute2)";
  }
  try {
    run(SYSTEM_PYTHON, ["-c", "import zeroconf"]);
  } catch {
    return "needs Python's zeroconf (Debian: apt-get install python3-zeroconf)";
  }
  return null;
}

function setUp(): string | null {
  sweepStale();
  // The `trap` of this test: namespaces go away even when the worker exits without afterAll.
  process.once("exit", cleanup);
  try {
    run("ip", ["netns", "add", SERVER_NS]);
    run("ip", ["netns", "add", CLIENT_NS]);
    run("ip", [
      "link",
      "add",
      SERVER_IF,
      "netns",
      SERVER_NS,
      "type",
      "veth",
      "peer",
      "name",
      CLIENT_IF,
      "netns",
      CLIENT_NS,
    ]);
    for (const [ns, dev, addr] of [
      [SERVER_NS, SERVER_IF, SERVER_ADDR],
      [CLIENT_NS, CLIENT_IF, CLIENT_ADDR],
    ] as const) {
      run("ip", ["-n", ns, "addr", "add", `${addr}/24`, "dev", dev]);
      run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      run("ip", ["-n", ns, "link", "set", dev, "up"]);
      run("ip", ["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
    }
    run("ip", ["-n", SERVER_NS, "addr", "add", `${SERVER_OTHER_ADDR}/24`, "dev", SERVER_IF]);
    return null;
  } catch (e) {
    cleanup();
    return `cannot create network namespaces here: ${(e as Error).message.split("\n")[0]}`;
  }
}

const missing = whyNot();
let setupProblem: string | null = null;
if (missing !== null) console.warn(`mDNS namespace test skipped: ${missing}`);

const children: ChildProcess[] = [];

/** A child under `ip netns exec NS`, its stdout split into lines, killed at the end of the test file. */
class NsChild {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  exitCode: number | null = null;
  #partial = "";

  constructor(
    ns: string,
    cmd: string,
    args: readonly string[],
    readonly timeoutMs: number,
  ) {
    this.child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(this.child);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    this.child.stdout?.on("data", (d: Buffer) => {
      const text = this.#partial + d.toString();
      const parts = text.split("\n");
      this.#partial = parts.pop() ?? "";
      this.lines.push(...parts);
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.child.once("exit", (code) => {
      clearTimeout(timer);
      this.exitCode = code ?? -1;
    });
  }

  /** Waits (bounded) for a line matching `test`. */
  async line(test: (line: string) => boolean, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      if (Date.now() > deadline || (this.exitCode !== null && this.lines.find(test) === undefined))
        throw new Error(`no ${what} (exit ${this.exitCode}):\n${this.lines.join("\n")}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async exited(timeoutMs = STEP_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.exitCode === null) {
      if (Date.now() > deadline) throw new Error(`did not exit:\n${this.lines.join("\n")}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.exitCode;
  }

  json(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

beforeAll(() => {
  if (missing === null) setupProblem = setUp();
  if (setupProblem !== null) console.warn(`mDNS namespace test skipped: ${setupProblem}`);
});

afterAll(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  if (missing === null) cleanup();
  process.off("exit", cleanup);
});

interface ZeroconfEvent {
  readonly event: string;
  readonly type: string;
  readonly name: string;
  readonly server?: string;
  readonly addresses?: string[];
  readonly port?: number;
  readonly txt?: Record<string, string>;
}

describe.skipIf(missing !== null)("mDNS in two network namespaces", () => {
  // Run in the namespace too: were the rule broken, the stray announcement must not reach the host network.
  it("does not announce an API bound to loopback, and says so", async (ctx) => {
    if (setupProblem !== null) ctx.skip();
    const serve = new NsChild(
      SERVER_NS,
      process.execPath,
      [BIN, "serve", "--simulate", "5.0", "--mdns", "--host", "127.0.0.1", "--status-interval", "0"],
      30_000,
    );
    const line = await serve.line((l) => l.startsWith("mDNS "), "mDNS line from serve", 20_000);
    expect(line).toMatch(/^mDNS\s+off \(bound to 127\.0\.0\.1/);
    expect(serve.stderr).toContain("not announcing over mDNS");
    serve.child.kill("SIGINT");
    expect(await serve.exited()).toBe(0);
  }, 40_000);

  it("HA's zeroconf and `discover` see the gateway; its address leads to a native-API session; goodbyes on stop", async (ctx) => {
    if (setupProblem !== null) ctx.skip();
    const key = randomBytes(32).toString("base64");
    const serve = new NsChild(
      SERVER_NS,
      process.execPath,
      [
        BIN,
        "serve",
        "--simulate",
        "5.0",
        "--mdns",
        "--host",
        SERVER_ADDR,
        "--name",
        "P1 netns",
        "--api-encryption-key",
        key,
        "--status-interval",
        "0",
      ],
      110_000,
    );
    await serve.line((l) => l.startsWith("mDNS "), "mDNS line from serve", 20_000);
    expect(serve.lines.join("\n")).toContain(`on ${SERVER_ADDR}`);

    // Python's zeroconf, as Home Assistant runs it, browsing from the other namespace.
    const zeroconf = new NsChild(
      CLIENT_NS,
      SYSTEM_PYTHON,
      [
        join(ROOT, "test/integration/mdns/zeroconf_browse.py"),
        CLIENT_ADDR,
        "80",
        "_esphomelib._tcp.local.",
        "_p1-gateway._tcp.local.",
      ],
      90_000,
    );
    const isAdd = (type: string) => (l: string) =>
      l.includes('"event": "add"') && l.includes(`"type": "${type}"`);
    const esphome = JSON.parse(
      await zeroconf.line(isAdd("_esphomelib._tcp.local."), "zeroconf: _esphomelib"),
    ) as ZeroconfEvent;
    expect(esphome).toMatchObject({
      name: "p1-netns._esphomelib._tcp.local.",
      server: "p1-netns.local.",
      addresses: [SERVER_ADDR],
      port: 6053,
    });
    expect(esphome.txt).toMatchObject({
      friendly_name: "P1 netns",
      api_encryption: "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
      version: expect.stringMatching(/^\d{4}\.\d+\.\d+$/),
      mac: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    const grpc = JSON.parse(
      await zeroconf.line(isAdd("_p1-gateway._tcp.local."), "zeroconf: _p1-gateway"),
    ) as ZeroconfEvent;
    expect(grpc).toMatchObject({ addresses: [SERVER_ADDR], port: 50051 });
    expect(grpc.txt).toMatchObject({
      grpc_port: "50051",
      version: expect.any(String),
      mac: esphome.txt?.mac,
    });

    // bonjour-service, through the CLI.
    const discover = new NsChild(CLIENT_NS, process.execPath, [BIN, "discover", "--seconds", "3"], 20_000);
    expect(await discover.exited(), discover.stderr).toBe(0);
    const found = discover.json();
    expect(found).toContainEqual(
      expect.objectContaining({
        name: "p1-netns",
        type: "_esphomelib._tcp",
        host: "p1-netns.local",
        addresses: [SERVER_ADDR],
        port: 6053,
        txt: expect.objectContaining({ mac: esphome.txt?.mac }),
      }),
    );
    expect(found).toContainEqual(
      expect.objectContaining({ type: "_p1-gateway._tcp", addresses: [SERVER_ADDR], port: 50051 }),
    );

    // The announced address and port, with the key, give a native-API session; DeviceInfo's MAC is TXT's.
    const address = esphome.addresses?.[0] as string;
    const session = new NsChild(
      CLIENT_NS,
      process.execPath,
      [join(ROOT, "test/integration/mdns/esphome-session.cjs"), address, String(esphome.port), key],
      30_000,
    );
    expect(await session.exited(25_000), `${session.lines.join("\n")}${session.stderr}`).toBe(0);
    const result = session.json()[0] as {
      deviceInfo: { name: string; macAddress: string };
      entities: { objectId: string }[];
      state: { value: number };
    };
    expect(result.deviceInfo.name).toBe("p1-netns");
    expect(result.deviceInfo.macAddress.replace(/:/g, "").toLowerCase()).toBe(esphome.txt?.mac);
    expect(result.entities.length).toBeGreaterThan(10);
    expect(result.entities.some((e) => e.objectId.endsWith("_emeter_delivery_tariff1"))).toBe(true);
    expect(typeof result.state.value).toBe("number");

    // Ctrl-C: serve sends goodbyes, so the browser drops both services at once (not after the TTL).
    serve.child.kill("SIGINT");
    const isRemove = (type: string) => (l: string) =>
      l.includes('"event": "remove"') && l.includes(`"type": "${type}"`);
    await zeroconf.line(isRemove("_esphomelib._tcp.local."), "zeroconf: goodbye of _esphomelib");
    await zeroconf.line(isRemove("_p1-gateway._tcp.local."), "zeroconf: goodbye of _p1-gateway");
    expect(await serve.exited(), serve.stderr).toBe(0);
  }, 120_000);
});
