import { createHash } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { parseArgs } from "node:util";
import { startGrpcServer } from "../api/grpc/index.ts";
import {
  ESPHOME_VERSION,
  type NativeApiServer,
  NOISE_PROTOCOL,
  PROJECT_NAME,
  SourceView,
  startNativeApiServer,
} from "../api/native/index.ts";
import {
  type GatewayConfig,
  loadConfig,
  meterPolicy,
  redactConfig,
  resolveNetwork,
  type SourceConfig,
} from "../config/index.ts";
import {
  createBonjourResponder,
  type EsphomeDeviceAnnouncement,
  type MdnsAnnouncer,
  startMdnsAnnouncer,
} from "../discovery/index.ts";
import { formatSerial, SERIAL_CANDIDATES } from "../dsmr/index.ts";
import { Gateway, type GatewaySource, type GatewayView } from "../gateway/index.ts";
import { aesGcmInUse } from "../gateway/native-gcm.ts";
import { createLogger, isP1Error, type Logger, type LogLevel } from "../shared/index.ts";
import {
  FileSource,
  RawFanout,
  SerialSource,
  type Source,
  StreamSource,
  TcpSource,
} from "../transport/index.ts";
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
  --data-request LINE    raise rts, dtr or both after opening the serial port (adapters that wire it)
  --fanout PORT          also serve the raw bytes on TCP PORT (or HOST:PORT) for other readers

Options:
  --config FILE          YAML configuration (keys in the README); flags override it
  --decryption-key HEX   AES-128 key of an encrypted meter (Smarty), 32 hex digits
  --received-timeout S   seconds without a valid telegram before values go unavailable (default 120)
  --name NAME            device name shown to clients
  --host ADDR            bind address (default 127.0.0.1 for the simulator, else 0.0.0.0)
  --grpc-port N          gRPC port (default 50051; 0 = any free port)
  --api-port N           ESPHome native API port (default 6053); with several sources, one device
                         per source on N, N+1, …
  --api-encryption-key K native API Noise key, base64 of 32 bytes
  --no-native-api        no ESPHome native API at all (gRPC only); per source: nativeApi: false
  --grpc-tls-cert FILE   serve gRPC over TLS with this PEM certificate (chain)
  --grpc-tls-key FILE    the certificate's PEM private key
  --grpc-tls-client-ca F require client certificates signed by this PEM CA (mutual TLS)
  --grpc-token-file FILE require 'authorization: Bearer <token>' on every gRPC call, token read from FILE
  --grpc-token TOKEN     the same, token given inline (visible in ps; prefer the file or
                         the environment variable P1_GATEWAY_GRPC_TOKEN)
  --mdns, --no-mdns      announce over mDNS (_esphomelib._tcp for Home Assistant, _p1-gateway._tcp for
                         gRPC); default: on for real meters, off for the simulator
  --mdns-interface I     announce on this interface only: its IPv4 address or name (eth0)
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
/** Environment variable that may hold the gRPC token (not visible in `ps`, unlike a flag). */
export const GRPC_TOKEN_ENV = "P1_GATEWAY_GRPC_TOKEN";

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
          dataRequest: config.dataRequest,
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
        dataRequest: config.dataRequest,
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

/**
 * The address other machines (Home Assistant) reach a gateway bound to every interface by: its first
 * non-internal IPv4 address, or 127.0.0.1 on a machine without one.
 */
function lanAddress(): string {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  return all.find((a) => a.family === "IPv4" && !a.internal)?.address ?? "127.0.0.1";
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
function stableMac(config: GatewayConfig, sourceId?: string): string {
  const seed =
    sourceId === undefined ? [config.name, ...config.sources.map((s) => s.id)] : [config.name, sourceId];
  return `02${createHash("sha256").update(seed.join("\0")).digest("hex").slice(0, 10)}`;
}

/** One native-API device: the whole gateway, or one source of several. */
interface DevicePlan {
  readonly name: string;
  readonly friendlyName: string;
  readonly mac: string;
  readonly port: number;
  readonly view: GatewayView;
}

/**
 * One native-API device per gateway source (issue #6): a single source is the gateway's device on
 * apiPort; several sources are several devices on apiPort, apiPort+1, … (0 stays "any free port"),
 * named `<name>-<source id>`, so Home Assistant shows each meter connection as its own device.
 * Sources with `nativeApi: false` get none (gRPC only), and the rest keep consecutive ports.
 */
function planDevices(config: GatewayConfig, gateway: GatewayView): DevicePlan[] {
  const served = config.sources.filter((s) => s.nativeApi);
  if (config.sources.length === 1) {
    return served.map(() => ({
      name: hostName(config.name),
      friendlyName: config.name,
      mac: stableMac(config),
      port: config.apiPort,
      view: gateway,
    }));
  }
  return served.map((s, i) => ({
    name: hostName(`${config.name}-${s.id}`),
    friendlyName: `${config.name} ${s.id}`,
    mac: stableMac(config, s.id),
    port: config.apiPort === 0 ? 0 : config.apiPort + i,
    view: new SourceView(gateway, s.id),
  }));
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
      "grpc-tls-cert": { type: "string" },
      "grpc-tls-key": { type: "string" },
      "grpc-tls-client-ca": { type: "string" },
      "grpc-token": { type: "string" },
      "grpc-token-file": { type: "string" },
      mdns: { type: "boolean" },
      "no-mdns": { type: "boolean" },
      "mdns-interface": { type: "string" },
      "no-native-api": { type: "boolean" },
      "status-interval": { type: "string" },
      "log-level": { type: "string" },
      "data-request": { type: "string" },
      fanout: { type: "string" },
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
  const configWarnings: string[] = [];
  try {
    // The config loader checks the flags too (one source only, ports, keys) and names the flag at fault.
    config = loadConfig(
      values.config,
      {
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
        grpcTlsCert: values["grpc-tls-cert"],
        grpcTlsKey: values["grpc-tls-key"],
        grpcTlsClientCa: values["grpc-tls-client-ca"],
        // The environment keeps the token out of `ps`; a flag still wins over it.
        grpcToken:
          values["grpc-token"] ?? (values["grpc-token-file"] ? undefined : process.env[GRPC_TOKEN_ENV]),
        grpcTokenFile: values["grpc-token-file"],
        mdnsInterface: values["mdns-interface"],
        nativeApi: values["no-native-api"] ? false : undefined,
        dataRequest: values["data-request"],
        fanout: values.fanout,
      },
      { onWarning: (w) => configWarnings.push(w) },
    );
  } catch (e) {
    if (isP1Error(e, "CONFIG_INVALID")) throw new UsageError(e.message);
    throw e;
  }

  const log = createLogger("p1", { sink: (line) => process.stderr.write(`${line}\n`), level });
  for (const w of configWarnings) log.warn(w);
  // A simulated meter must not show up in a real Home Assistant by surprise: loopback unless asked.
  const { host, mdns } = resolveNetwork(config);
  // Made with the sources so GetInfo counts their readers; they listen only once the servers are up.
  const fanouts: RawFanout[] = [];
  const sources: GatewaySource[] = config.sources.map((s) => {
    const source = createSource(s, log);
    const fanout = s.fanout
      ? new RawFanout({ source, host: s.fanout.host ?? host, port: s.fanout.port, logger: log.child(s.id) })
      : undefined;
    if (fanout) fanouts.push(fanout);
    return {
      id: s.id,
      source,
      ...(fanout ? { fanout } : {}),
      decoder: {
        ...(s.decryptionKey ? { decryptionKey: s.decryptionKey } : {}),
        ...(s.authenticationKey ? { authenticationKey: s.authenticationKey } : {}),
      },
      receivedTimeoutS: s.receivedTimeoutS,
      policyFor: (meter) => meterPolicy(s, meter.type, meter.channel),
    };
  });
  const version = packageVersion();
  const gateway = new Gateway({ name: config.name, version, sources, logger: log });

  let grpc: Awaited<ReturnType<typeof startGrpcServer>>;
  try {
    grpc = await startGrpcServer(gateway, {
      host,
      port: config.grpcPort,
      logger: log.child("grpc"),
      ...(config.grpcTls ? { tls: config.grpcTls } : {}),
      ...(config.grpcToken ? { token: config.grpcToken } : {}),
      // Masked in the gateway, redacted here: the bundle leaves the process with nothing left to hide.
      diagnostics: {
        recentTelegrams: () => gateway.recentTelegrams(),
        config: redactConfig(config),
        aesGcm: aesGcmInUse,
      },
    });
  } catch (e) {
    throw new UsageError(`cannot serve gRPC on ${host}:${config.grpcPort}: ${(e as Error).message}`);
  }
  const devices = planDevices(config, gateway);
  const natives: NativeApiServer[] = [];
  const stopAll = async (): Promise<void> => {
    for (const n of natives) await n.stop();
    for (const d of devices) if (d.view instanceof SourceView) d.view.close();
    await grpc.stop();
  };
  // One logger for every device: the namespace is the same, and thousands of devices need not each have one.
  const apiLog = log.child("api");
  for (const d of devices) {
    try {
      natives.push(
        await startNativeApiServer(d.view, {
          host,
          port: d.port,
          name: d.name,
          friendlyName: d.friendlyName,
          mac: d.mac,
          model: "P1 smart meter",
          projectVersion: version,
          ...(config.apiEncryptionKey ? { encryptionKey: config.apiEncryptionKey } : {}),
          logger: apiLog,
        }),
      );
    } catch (e) {
      await stopAll();
      throw new UsageError(`cannot serve the native API on ${host}:${d.port}: ${(e as Error).message}`);
    }
  }
  let announcer: MdnsAnnouncer | null = null;
  // Bound to one address: announce that address only, on its interface (others lead nowhere).
  const boundV4 = isIPv4(host) && host !== "0.0.0.0" ? host : undefined;
  const mdnsInterface = config.mdnsInterface ?? boundV4;
  // An announcement of a loopback-only API would send Home Assistant to an address it cannot reach.
  const announce = mdns && !isLoopback(host);
  if (mdns && !announce)
    log.warn(`bound to ${host}: not announcing over mDNS; --host opens the API to the network`);
  if (announce) {
    try {
      const responder = createBonjourResponder({
        interface: mdnsInterface,
        addresses: boundV4 === undefined ? undefined : [boundV4],
        logger: log.child("mdns"),
      });
      const announced: EsphomeDeviceAnnouncement[] = devices.map((d, i) => ({
        name: d.name,
        friendlyName: d.friendlyName,
        mac: d.mac,
        port: natives[i]?.port ?? d.port,
        apiEncryption: config.apiEncryptionKey ? NOISE_PROTOCOL : null,
      }));
      announcer = startMdnsAnnouncer(gateway, {
        responder,
        devices: announced,
        gatewayName: hostName(config.name),
        grpcPort: grpc.port,
        esphomeVersion: ESPHOME_VERSION,
        projectName: PROJECT_NAME,
        projectVersion: version,
        logger: log.child("mdns"),
      });
    } catch (e) {
      await stopAll();
      if (isP1Error(e, "CONFIG_INVALID")) throw new UsageError(e.message);
      throw e;
    }
  }
  for (const fanout of fanouts) {
    try {
      await fanout.start();
    } catch (e) {
      for (const f of fanouts) await f.stop();
      await announcer?.stop();
      await stopAll();
      throw new UsageError(`${(e as Error).message}: ${((e as Error).cause as Error | undefined)?.message}`);
    }
  }
  gateway.start();

  const shown = host === "0.0.0.0" || host === "::" ? lanAddress() : host;
  if (config.grpcToken && !config.grpcTls && !isLoopback(host))
    log.warn("the gRPC token travels in plaintext on the network: set grpcTlsCert and grpcTlsKey");
  // How to try it, with the flags the server's security needs (the token itself is never printed).
  const grpcurlFlags = [
    config.grpcTls ? `-cacert ${config.grpcTls.certFile}` : "-plaintext",
    ...(config.grpcTls?.clientCaFile ? ["-cert CLIENT.pem -key CLIENT.key"] : []),
    ...(config.grpcToken ? ["-H 'authorization: Bearer <token>'"] : []),
  ].join(" ");
  out(`p1-gateway ${version}: ${sources.map((s) => s.source.description).join(", ")}`);
  out(
    `gRPC        ${grpc.address}   (try: grpcurl ${grpcurlFlags} ${shown}:${grpc.port} p1gateway.v1.Gateway/ListEntities)`,
  );
  for (const f of fanouts)
    out(`raw fan-out ${f.address}   (the meter's bytes as they arrive, for other readers)`);
  if (natives.length === 0) out("native API  off (nativeApi: false): gRPC only");
  for (const [i, n] of natives.entries()) {
    const d = devices[i] as DevicePlan;
    const which = devices.length > 1 ? ` ${d.name}` : "";
    out(
      `native API  ${host}:${n.port}${which}   (Home Assistant: add the ESPHome integration with host ${shown}, port ${n.port}${config.apiEncryptionKey ? ", and the encryption key" : ""})`,
    );
  }
  if (announcer !== null) {
    const names = announcer
      .services()
      .map((sv) => `${sv.name}._${sv.type}._tcp port ${sv.port}`)
      .join(", ");
    out(`mDNS        ${names} on ${mdnsInterface ?? "every interface"}`);
  } else {
    out(
      `mDNS        off (${mdns ? `bound to ${host}` : "--mdns announces"}; Home Assistant can still add the device by host and port)`,
    );
  }
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
  // Goodbye packets first: Home Assistant marks the device gone at once instead of after the TTL.
  await announcer?.stop();
  for (const n of natives) await n.stop();
  for (const f of fanouts) await f.stop();
  for (const d of devices) if (d.view instanceof SourceView) d.view.close();
  await gateway.stop();
  await grpc.stop();
  out(statusLine(gateway));
  return 0;
}
