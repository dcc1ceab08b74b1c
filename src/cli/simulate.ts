import { parseArgs } from "node:util";
import {
  createSimulator,
  FAULT_KINDS,
  type FaultKind,
  loadScenario,
  openFileSink,
  openSerialSink,
  ScenarioError,
  Simulator,
  type SimulatorOptions,
  type Sink,
  SinkError,
  scenarioOptions,
  startPty,
  startTcpSink,
  streamSink,
} from "../../simulator/index.ts";
import { formatSerial, VERSION_NAMES, VERSIONS, type VersionName } from "../dsmr/index.ts";
import { parseAesKey, UsageError } from "./common.ts";

export const SIMULATE_HELP = `Usage: p1-gateway simulate --version V [options]

Writes P1 telegrams exactly as a meter of version V would. Same seed, same bytes.

Options:
  --version V         protocol version (see --list-versions)
  --list-versions     list the versions and exit
  --seed N            random seed (default 1)
  --count K           stop after K telegrams (default: run until interrupted)
  --interval MS       pause between telegrams (default: the version's own interval; 0 = as fast as possible)
  --start ISO         simulated time of the first telegram (default 2024-01-15T11:00:00Z)
  --speed X           simulated time per telegram = version interval × X (default 1)
  --key HEX           encrypt every telegram (AES-128-GCM, Smarty frames): 32 hex digits
  --aad HEX           authentication key: 32 hex digits (default: Smarty's published key)
  --scenario FILE     read options from a YAML scenario (flags override it)
  --fault KIND=RATE   inject a fault with probability RATE per telegram; repeatable. Kinds:
                      ${FAULT_KINDS.join(", ")}
  --out FILE|-        write to a file or stdout (default: stdout when no other output is chosen)
  --tcp PORT          serve the telegrams to any number of TCP readers (like ser2net)
  --host ADDR         address for --tcp (default 127.0.0.1)
  --serial PATH       write to an existing serial device or pty
  --pty               create a virtual serial port (a pty) and print its path
  -h, --help          show this help

A summary of injected faults is printed to stderr as JSON. Exit status: 0 done, 2 usage error.`;

function toInt(option: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${option} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function toVersion(text: string): VersionName {
  if ((VERSION_NAMES as readonly string[]).includes(text)) return text as VersionName;
  throw new UsageError(
    `unknown version ${JSON.stringify(text)}; expected one of ${VERSION_NAMES.join(", ")}`,
  );
}

function toFaults(specs: readonly string[]): Partial<Record<FaultKind, number>> {
  const out: Partial<Record<FaultKind, number>> = {};
  for (const spec of specs) {
    const [kind = "", rate = ""] = spec.split("=");
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw new UsageError(
        `--fault ${JSON.stringify(spec)}: unknown fault; expected one of ${FAULT_KINDS.join(", ")}`,
      );
    const r = Number(rate);
    if (rate === "" || !(r >= 0 && r <= 1))
      throw new UsageError(`--fault ${JSON.stringify(spec)}: RATE must be a probability between 0 and 1`);
    out[kind as FaultKind] = r;
  }
  return out;
}

/** The versions table as `--list-versions` prints it. */
function listVersions(out: (line: string) => void): void {
  for (const name of VERSION_NAMES) {
    const v = VERSIONS[name];
    out(
      `${name.padEnd(8)} ${v.title.padEnd(26)} ${formatSerial(v.serial)}  every ${v.intervalMs / 1000} s` +
        `${v.crc ? "  CRC" : ""}${v.encrypted ? "  encrypted" : ""}`,
    );
  }
}

/** `p1-gateway simulate`: returns the exit code. */
export async function runSimulate(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      version: { type: "string" },
      "list-versions": { type: "boolean" },
      seed: { type: "string" },
      count: { type: "string" },
      interval: { type: "string" },
      start: { type: "string" },
      speed: { type: "string" },
      key: { type: "string" },
      aad: { type: "string" },
      scenario: { type: "string" },
      fault: { type: "string", multiple: true },
      out: { type: "string" },
      tcp: { type: "string" },
      host: { type: "string" },
      serial: { type: "string" },
      pty: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(SIMULATE_HELP);
    return 0;
  }
  if (values["list-versions"]) {
    listVersions(out);
    return 0;
  }

  // ---- Options: scenario first, flags override ----
  let base: Partial<SimulatorOptions> = {};
  if (values.scenario !== undefined) {
    try {
      base = scenarioOptions(loadScenario(values.scenario));
    } catch (e) {
      if (e instanceof ScenarioError) throw new UsageError(e.message);
      throw e;
    }
  }
  const versionText = values.version ?? base.version;
  if (versionText === undefined)
    throw new UsageError("--version is required (or a --scenario that names one)");
  const version = toVersion(versionText);
  const options: SimulatorOptions = {
    ...base,
    version,
    ...(values.seed !== undefined ? { seed: toInt("--seed", values.seed, 0) } : {}),
    ...(values.count !== undefined ? { count: toInt("--count", values.count, 1) } : {}),
    ...(values.interval !== undefined ? { intervalMs: toInt("--interval", values.interval, 0) } : {}),
    ...(values.start !== undefined ? { startTime: parseStart(values.start) } : {}),
    ...(values.speed !== undefined ? { speed: parseSpeed(values.speed) } : {}),
    ...(values.key !== undefined ? { key: parseAesKey("--key", values.key) } : {}),
    ...(values.aad !== undefined ? { aad: parseAesKey("--aad", values.aad) } : {}),
    ...(values.fault !== undefined ? { faults: { ...base.faults, ...toFaults(values.fault) } } : {}),
  };
  if (options.aad !== undefined && options.key === undefined) throw new UsageError("--aad needs --key");
  if (VERSIONS[version].encrypted && options.key === undefined) {
    process.stderr.write(
      `p1-gateway simulate: ${VERSIONS[version].title} without --key: writing plaintext telegrams\n`,
    );
  }

  // ---- Outputs: stdout unless something else is chosen ----
  const toStdout =
    values.out === "-" || (values.out === undefined && !values.tcp && !values.serial && !values.pty);
  // Status lines go where telegrams do not.
  const info = toStdout ? (line: string) => process.stderr.write(`${line}\n`) : out;
  const sinks: Sink[] = [];
  try {
    if (toStdout) sinks.push(streamSink(process.stdout, "stdout"));
    if (values.out !== undefined && values.out !== "-") sinks.push(await openFileSink(values.out));
    if (values.tcp !== undefined) {
      const tcp = await startTcpSink(toInt("--tcp", values.tcp, 0), values.host ?? "127.0.0.1");
      sinks.push(tcp);
      info(`listening on tcp://${tcp.target}`);
    }
    if (values.serial !== undefined)
      sinks.push(await openSerialSink(values.serial, VERSIONS[version].serial));
    if (values.pty) {
      const pty = await startPty();
      sinks.push(pty);
      info(pty.path);
    }
  } catch (e) {
    await Promise.all(sinks.map((s) => s.close()));
    if (e instanceof SinkError) throw new UsageError(e.message);
    throw e;
  }

  // ---- Run until count or Ctrl-C ----
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const simulator = new Simulator(options);
  try {
    for await (const bytes of createSimulator(options, {
      signal: abort.signal,
      simulator,
      onCable: (event) => {
        for (const s of sinks) s.cable(event);
      },
    })) {
      await Promise.all(sinks.map((s) => s.write(bytes)));
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await Promise.all(sinks.map((s) => s.close()));
  }
  if (simulator.log.entries.length > 0) {
    process.stderr.write(`${JSON.stringify({ injected: simulator.log.counts })}\n`);
  }
  return 0;
}

function parseStart(text: string): number {
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new UsageError(`--start must be an ISO 8601 date and time, got ${JSON.stringify(text)}`);
  return t;
}

function parseSpeed(text: string): number {
  const x = Number(text);
  if (!(x > 0) || !Number.isFinite(x))
    throw new UsageError(`--speed must be a positive number, got ${JSON.stringify(text)}`);
  return x;
}
