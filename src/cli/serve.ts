import { createHash } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startGrpcServer } from "../api/grpc/index.ts";
import { type NativeApiServer, startNativeApiServer } from "../api/native/index.ts";
import {
  type GatewayConfig,
  loadConfig,
  meterPolicy,
  resolveNetwork,
  type SourceConfig,
} from "../config/index.ts";
import { formatSerial, SERIAL_CANDIDATES } from "../dsmr/index.ts";
import { Gateway, type GatewaySource, type GatewayView } from "../gateway/index.ts";
import { createLogger, isP1Error, type Logger, type LogLevel } from "../shared/index.ts";
import { FileSource, SerialSource, type Source, StreamSource, TcpSource } from "../transport/index.ts";
import { UsageError } from "./common.ts";
import { createTelegramJudge } from "./serial-judge.ts";
import { SimulatorSource } from "./simulator-source.ts";

export const SERVE_HELP = `Usage: p1-gateway serve [options]

Reads a meter and serves its values over gRPC and the ESPHome native API (Home Assistant).
With no source configured it runs the embedded simulator (DSMR 5.0) on 127.0.0.1.

Source (one; a config file can list several):
  --serial PATH          P1 cable: /dev/ttyUSB0, /dev/serial/by-id/…, /dev/p1
  --tcp HOST:PORT        ser2net or a Wi-Fi P1 dongle
  --file FILE|-          replay a capture (or stdin)
  --simulate V           the embedded simulator, version V (see 'p1-gateway simulate --list-versions')

Options:
  --config FILE          YAML configuration (keys in the README); flags override it
  --decryption-key HEX   AES-128 key of an encrypted meter (Smarty), 32 hex digits
  --received-timeout S   seconds without a valid telegram before values go unavailable (default 120)
  --name NAME            device name shown to clients
  --host ADDR            bind address (default 127.0.0.1 for the simulator, else all interfaces)
  --grpc-port N          gRPC port (default 50051; 0 = any free port)
  --api-port N           ESPHome native API port (default 6053)
  --api-encryption-key K native API Noise key, base64 of 32 bytes
  --mdns, --no-mdns      announce on the network (default: on for real meters, off for the simulator)
  --status-interval S    print a status line every S seconds (default 10; 0 = never)
  --log-level L          debug, info, warn or error (default info)
  -h, --help             show this help

Stops cleanly on Ctrl-C (SIGINT) or SIGTERM. Exit status: 0 stopped, 2 usage or configuration error.`;

/**
 * A silent link is reopened after this long: 3 × the slowest interval (DSMR 2.x/3.0 write every 10 s), so a
 * few lost telegrams never trigger it, yet a dongle that hangs without closing is noticed within a minute.
 */
const STALL_TIMEOUT_MS = 30_000;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version?: unknown;
  };
  return typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

/** Builds the byte source a configured source describes. */
function createSource(config: SourceConfig, log: Logger): Source {
  switch (config.kind) {
    case "serial": {
      if (config.serial !== "auto")
        return new SerialSource({
          path: config.path,
          settings: config.serial,
          stallTimeoutMs: STALL_TIMEOUT_MS,
        });
      log.info(
        `${config.id}: serial settings auto: trying ${SERIAL_CANDIDATES.map(formatSerial).join(", ")}`,
      );
      return new SerialSource({
        path: config.path,
        settings: "auto",
        candidates: SERIAL_CANDIDATES,
        createJudge: createTelegramJudge,
        stallTimeoutMs: STALL_TIMEOUT_MS,
      });
    }
    case "tcp":
      return new TcpSource({ host: config.host, port: config.port, stallTimeoutMs: STALL_TIMEOUT_MS });
    case "file":
      return config.path === "-"
        ? new StreamSource(process.stdin, "stdin")
        : new FileSource({ path: config.path });
    case "simulator":
      return new SimulatorSource({
        version: config.version,
        seed: 1, // a fixed seed keeps the simulated meter's equipment ids, and so entity ids, across restarts
        ...(config.decryptionKey ? { key: config.decryptionKey } : {}),
        ...(config.authenticationKey ? { aad: config.authenticationKey } : {}),
      });
  }
}

/** Whether a bind address only accepts connections from this machine. */
function isLoopback(host: string): boolean {
  return host === "::1" || host === "localhost" || host.startsWith("127.");
}

/** An ESPHome-style host name (lower-case letters, digits, hyphens; at most 31 characters). */
function hostName(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 31) || "p1-gateway"
  );
}

/**
 * A MAC-like device id Home Assistant keys the device by: locally administered (02:…), derived from the
 * name and the sources, so it is the same on every start and differs between gateways.
 */
function stableMac(config: GatewayConfig): string {
  const seed = [config.name, ...config.sources.map((s) => s.id)].join("\0");
  return `02${createHash("sha256").update(seed).digest("hex").slice(0, 10)}`;
}

/** One line a person can read at a glance: link, version, counts and the headline values. */
function statusLine(view: GatewayView): string {
  const info = view.info();
  const entities = view.entities();
  // The first non-diagnostic entity per source and class, in one pass: with thousands of meters a
  // search per source made each status line (and stopping) quadratic.
  const first = new Map<string, (typeof entities)[number]>();
  for (const e of entities) {
    const key = `${e.sourceId}\0${e.deviceClass}`;
    if (!e.diagnostic && !first.has(key)) first.set(key, e);
  }
  return info.sources
    .map((s) => {
      const dropped = Object.values(s.counters.telegramsDropped).reduce((a, b) => a + (b ?? 0), 0);
      // One headline value per class: the power drawn now, an energy register, the gas total.
      const headline = (["power", "energy", "gas"] as const).flatMap((deviceClass) => {
        const e = first.get(`${s.id}\0${deviceClass}`);
        const v = e && view.state(e.id)?.value;
        return e && typeof v === "number" ? [`${e.name.toLowerCase()} ${v} ${e.unit ?? ""}`.trim()] : [];
      });
      return [
        `${s.id}: ${s.link}`,
        s.version ? `DSMR ${s.version}` : null,
        `${s.counters.telegramsOk} telegram${s.counters.telegramsOk === 1 ? "" : "s"}, ${dropped} dropped`,
        ...headline,
      ]
        .filter((x) => x !== null)
        .join(" · ");
    })
    .join("\n");
}

/** `p1-gateway serve`: runs the gateway until SIGINT/SIGTERM. */
export async function runServe(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: "string" },
      serial: { type: "string" },
      tcp: { type: "string" },
      file: { type: "string" },
      simulate: { type: "string" },
      "decryption-key": { type: "string" },
      "received-timeout": { type: "string" },
      name: { type: "string" },
      host: { type: "string" },
      "grpc-port": { type: "string" },
      "api-port": { type: "string" },
      "api-encryption-key": { type: "string" },
      mdns: { type: "boolean" },
      "no-mdns": { type: "boolean" },
      "status-interval": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(SERVE_HELP);
    return 0;
  }
  if (values.mdns && values["no-mdns"]) throw new UsageError("--mdns and --no-mdns contradict each other");
  const level = (values["log-level"] ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const statusS = Number(values["status-interval"] ?? 10);
  if (!Number.isFinite(statusS) || statusS < 0)
    throw new UsageError("--status-interval must be a number of seconds, 0 or more");

  let config: GatewayConfig;
  try {
    // The config loader checks the flags too (one source only, ports, keys) and names the flag at fault.
    config = loadConfig(values.config, {
      serialPort: values.serial,
      tcp: values.tcp,
      file: values.file,
      simulate: values.simulate,
      decryptionKey: values["decryption-key"],
      receivedTimeout: values["received-timeout"],
      name: values.name,
      host: values.host,
      grpcPort: values["grpc-port"],
      apiPort: values["api-port"],
      apiEncryptionKey: values["api-encryption-key"],
      mdns: values.mdns ? true : values["no-mdns"] ? false : undefined,
    });
  } catch (e) {
    if (isP1Error(e, "CONFIG_INVALID")) throw new UsageError(e.message);
    throw e;
  }

  const log = createLogger("p1", { sink: (line) => process.stderr.write(`${line}\n`), level });
  // A simulated meter must not show up in a real Home Assistant by surprise: loopback unless asked.
  const { host, mdns } = resolveNetwork(config);
  if (mdns) log.warn("mDNS announcement is not implemented yet: add the device in Home Assistant by address");
  const sources: GatewaySource[] = config.sources.map((s) => ({
    id: s.id,
    source: createSource(s, log),
    decoder: {
      ...(s.decryptionKey ? { decryptionKey: s.decryptionKey } : {}),
      ...(s.authenticationKey ? { authenticationKey: s.authenticationKey } : {}),
    },
    receivedTimeoutS: s.receivedTimeoutS,
    policyFor: (meter) => meterPolicy(s, meter.type, meter.channel),
  }));
  const version = packageVersion();
  const gateway = new Gateway({ name: config.name, version, sources, logger: log });

  let grpc: Awaited<ReturnType<typeof startGrpcServer>>;
  try {
    grpc = await startGrpcServer(gateway, { host, port: config.grpcPort, logger: log.child("grpc") });
  } catch (e) {
    throw new UsageError(`cannot serve gRPC on ${host}:${config.grpcPort}: ${(e as Error).message}`);
  }
  let native: NativeApiServer;
  try {
    native = await startNativeApiServer(gateway, {
      host,
      port: config.apiPort,
      name: hostName(config.name),
      friendlyName: config.name,
      mac: stableMac(config),
      model: "P1 smart meter",
      projectVersion: version,
      ...(config.apiEncryptionKey ? { encryptionKey: config.apiEncryptionKey } : {}),
      logger: log.child("api"),
    });
  } catch (e) {
    await grpc.stop();
    throw new UsageError(`cannot serve the native API on ${host}:${config.apiPort}: ${(e as Error).message}`);
  }
  gateway.start();

  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  out(`p1-gateway ${version}: ${sources.map((s) => s.source.description).join(", ")}`);
  out(
    `gRPC        ${grpc.address}   (try: grpcurl -plaintext ${shown}:${grpc.port} p1gateway.v1.Gateway/ListEntities)`,
  );
  out(
    `native API  ${host}:${native.port}   (Home Assistant: add the ESPHome integration with host ${shown}, port ${native.port}${config.apiEncryptionKey ? ", and the encryption key" : ""})`,
  );
  if (isLoopback(host))
    out(`bound to ${host}: only this machine can connect (--host 0.0.0.0 opens it); Ctrl-C stops`);

  const status = statusS > 0 ? setInterval(() => out(statusLine(gateway)), statusS * 1000) : null;
  // Show the meter as soon as its first telegram is in, rather than after the first interval.
  if (statusS > 0) gateway.once("telegram", () => setImmediate(() => out(statusLine(gateway))));
  const signals = ["SIGINT", "SIGTERM"] as const;
  const stopped = new AbortController();
  const onSignal = () => stopped.abort();
  for (const s of signals) process.once(s, onSignal);
  await once(stopped.signal, "abort");
  for (const s of signals) process.off(s, onSignal);
  if (status) clearInterval(status);
  log.info("stopping");
  await native.stop();
  await gateway.stop();
  await grpc.stop();
  out(statusLine(gateway));
  return 0;
}
