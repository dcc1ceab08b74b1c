/**
 * The gateway as users run it: `p1-gateway serve --config FILE` in its own process, so its CPU and memory
 * are measured alone (from /proc), apart from the load generator and the clients in the bench process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../src/cli/bin.mjs", import.meta.url));
// Linux reports process times in clock ticks; 100 per second on every mainstream kernel configuration.
const CLOCK_TICKS_PER_S = 100;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** One source line of the generated configuration. */
export type BenchSource =
  | { readonly id: string; readonly tcp: string }
  | { readonly id: string; readonly serialPort: string };

/** A running gateway process. */
export interface GatewayProcess {
  readonly pid: number;
  readonly grpcPort: number;
  readonly apiPort: number;
  /** Wall time from spawn to both ports announced (ms). */
  readonly startMs: number;
  /** User + system CPU seconds the process used so far. */
  cpuSeconds(): number;
  /** Resident set size now (MB). */
  rssMb(): number;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

function configYaml(sources: readonly BenchSource[]): string {
  const lines = [
    "name: bench",
    "host: 127.0.0.1",
    "grpcPort: 0",
    "apiPort: 0",
    "mdns: false",
    "receivedTimeout: 120",
    "sources:",
  ];
  for (const s of sources) {
    lines.push(`  - id: ${s.id}`);
    if ("tcp" in s) lines.push(`    tcp: "${s.tcp}"`);
    else lines.push(`    serialPort: ${s.serialPort}`, "    baud: 115200");
  }
  return `${lines.join("\n")}\n`;
}

/** Starts `p1-gateway serve` on the given sources (ports chosen by the OS) and waits until it serves. */
export async function startGateway(sources: readonly BenchSource[]): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), "p1-bench-"));
  const config = join(dir, "bench.yaml");
  writeFileSync(config, configYaml(sources));
  const started = performance.now();
  // P1_BENCH_PROFILE=DIR: the gateway writes a V8 CPU profile there when it stops (see README, Performance).
  const profile = process.env.P1_BENCH_PROFILE;
  // P1_BENCH_NODE_FLAGS: more flags for the gateway's node (e.g. --heapsnapshot-signal=SIGUSR2).
  const flags = (process.env.P1_BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "");
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
      ...flags,
      BIN,
      "serve",
      "--config",
      config,
      "--status-interval",
      "0",
      "--log-level",
      "error",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const ports = await new Promise<{ grpc: number; api: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const grpc = /gRPC\s+\S+:(\d+)/.exec(output);
      const api = /native API\s+\S+:(\d+)/.exec(output);
      if (grpc && api) {
        clearTimeout(timer);
        resolve({ grpc: Number(grpc[1]), api: Number(api[1]) });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
  const startMs = performance.now() - started;
  const pid = child.pid as number;
  // Keep draining its output so a chatty gateway never blocks on a full pipe. P1_BENCH_GATEWAY_OUTPUT=FILE
  // keeps it (e.g. with P1_BENCH_NODE_FLAGS=--trace-gc, to see the gateway's collections).
  const keep = process.env.P1_BENCH_GATEWAY_OUTPUT;
  if (keep) {
    const out = createWriteStream(keep, { flags: "a" });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  return {
    pid,
    grpcPort: ports.grpc,
    apiPort: ports.api,
    startMs,
    cpuSeconds: () => processCpuSeconds(pid),
    rssMb: () => processRssMb(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        // A gateway that cannot stop in time is a finding, but must not hang the bench.
        const kill = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of a process (/proc/PID/stat fields 14 and 15), in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  // The command name (field 2) may contain spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** VmRSS of a process, in MB. */
export function processRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Waits (bounded) until `ready()` holds, polling every 10 ms. */
export async function until(ready: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
