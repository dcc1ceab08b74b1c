import { isIP } from "node:net";
import { z } from "zod";
import {
  METER_KIND_NAMES,
  type MeterKind,
  SERIAL_9600_7E1,
  SERIAL_115200_8N1,
  type SerialSettings,
  VERSION_NAMES,
  type VersionName,
} from "../dsmr/index.ts";

// ---- What a loaded configuration is ----

/** What a throttled measurement publishes for its period. */
export type Aggregate = "last" | "mean" | "min" | "max";
/** Every aggregate, in the order the docs list them. */
export const AGGREGATES = ["last", "mean", "min", "max"] as const satisfies readonly Aggregate[];

/** Meter types a `meters` entry can name: the meter kinds of the spec tables. */
export type MeterType = MeterKind;
/** Every meter type. */
export const METER_TYPES: readonly MeterType[] = METER_KIND_NAMES;

/** How often a meter's measurements are published and how a period is summarised. */
export interface MeterPolicy {
  /** Seconds between publications; 0 = every telegram. */
  readonly refreshRateS: number;
  readonly aggregate: Aggregate;
}

/** One `meters` entry, its unset fields filled from the type-wide entry, then the source. */
export interface MeterConfig extends MeterPolicy {
  readonly type: MeterType;
  /** 0 = main meter, 1-4 = M-Bus channel; null = every meter of this type. */
  readonly channel: number | null;
}

/** What every source has, whatever its kind. */
export interface SourceBase extends MeterPolicy {
  /** Unique, `[a-z0-9_-]`; names the source in logs, gRPC and entity attributes. */
  readonly id: string;
  /** AES-128-GCM key of encrypted meters (Smarty, encrypted e-MUCS); null = plaintext meter. */
  readonly decryptionKey: Buffer | null;
  /** GCM authentication key (AAD without the 0x30 security byte); null = the cipher's default. */
  readonly authenticationKey: Buffer | null;
  /** Re-serve the source's raw bytes on this TCP endpoint (host null = the gateway's bind address). */
  readonly fanout: FanoutConfig | null;
  /** Serve this source as an ESPHome native-API device (Home Assistant); false = gRPC only. */
  readonly nativeApi: boolean;
  /** Seconds without a valid telegram before the source's entities become unavailable. */
  readonly receivedTimeoutS: number;
  readonly meters: readonly MeterConfig[];
}

/** Where a source's raw byte stream is served again (ser2net-style), for other readers of the port. */
export interface FanoutConfig {
  /** Bind address; null = the gateway's `host`. */
  readonly host: string | null;
  readonly port: number;
}

/** Modem-control line(s) raised for the meter's Data Request (transport's DATA_REQUEST_LINES). */
export type DataRequest = "rts" | "dtr" | "both" | "none";
/** Every `dataRequest` value. */
export const DATA_REQUESTS = ["none", "rts", "dtr", "both"] as const satisfies readonly DataRequest[];

/** A meter on a local serial port (P1 cable). */
export interface SerialSourceConfig extends SourceBase {
  readonly kind: "serial";
  readonly path: string;
  /** Line settings; "auto" = detect from the candidates in dsmr/spec/serial.ts. */
  readonly serial: "auto" | SerialSettings;
  /** Line(s) raised after each open for adapters that feed Data Request from RTS/DTR; "none" = leave as is. */
  readonly dataRequest: DataRequest;
}

/** A meter behind a TCP byte stream (ser2net, Wi-Fi P1 dongle). */
export interface TcpSourceConfig extends SourceBase {
  readonly kind: "tcp";
  readonly host: string;
  readonly port: number;
}

/** A replayed capture. */
export interface FileSourceConfig extends SourceBase {
  readonly kind: "file";
  readonly path: string;
}

/** The embedded simulator. */
export interface SimulatorSourceConfig extends SourceBase {
  readonly kind: "simulator";
  readonly version: VersionName;
}

/** One source of telegrams, discriminated by `kind`. */
export type SourceConfig = SerialSourceConfig | TcpSourceConfig | FileSourceConfig | SimulatorSourceConfig;

/** A validated gateway configuration: what `loadConfig` returns. */
export interface GatewayConfig {
  /** Device name shown in Home Assistant and mDNS. */
  readonly name: string;
  /** Bind address of gRPC and the native API; null = not set (see `resolveNetwork`). */
  readonly host: string | null;
  /** 0 = any free port. */
  readonly grpcPort: number;
  /** ESPHome native API port; 0 = any free port. */
  readonly apiPort: number;
  /** Noise pre-shared key (32 bytes); null = plaintext native API. */
  readonly apiEncryptionKey: Buffer | null;
  /** Announce over mDNS; null = not set (see `resolveNetwork`). */
  readonly mdns: boolean | null;
  /** IPv4 address or name of the one interface mDNS runs on; null = every interface (or the bind address). */
  readonly mdnsInterface: string | null;
  readonly sources: readonly SourceConfig[];
  /** TLS of the gRPC API; absent = plaintext. */
  readonly grpcTls?: GrpcTlsConfig;
  /** Bearer token every gRPC call must carry (UTF-8 bytes, a Buffer so redaction hides it); absent = none. */
  readonly grpcToken?: Buffer;
  /** Where grpcToken was read from, when a grpcTokenFile gave it. */
  readonly grpcTokenFile?: string;
}

/** TLS of the gRPC API: the PEM files as read and checked at load, with the paths they came from. */
export interface GrpcTlsConfig {
  readonly certFile: string;
  readonly cert: Buffer;
  readonly keyFile: string;
  readonly key: Buffer;
  /** CA bundle client certificates must chain to (mutual TLS); absent = any client may connect. */
  readonly clientCaFile?: string;
  readonly clientCa?: Buffer;
}

// ---- Defaults ----

/** Values of keys a file leaves out. */
export const DEFAULTS = {
  name: "p1-gateway",
  grpcPort: 50051,
  apiPort: 6053,
  // The seed binding's default.
  receivedTimeoutS: 120,
  refreshRateS: 0,
  aggregate: "last",
  /** With no source configured the gateway runs the embedded simulator of this version. */
  simulate: "5.0",
} as const satisfies Readonly<Record<string, string | number>>;

// ---- Readers: one per kind of value; a problem never quotes the value (it may be a secret) ----

/** A value read from the configuration, or what is wrong with it (relative `at` for nested values). */
export type Read<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string; readonly at?: readonly (string | number)[] };

const ok = <T>(value: T): Read<T> => ({ ok: true, value });
const fail = (problem: string, at?: readonly (string | number)[]): Read<never> =>
  at === undefined ? { ok: false, problem } : { ok: false, problem, at };

/** "a number", "text"…: the type of a value, for messages that must not quote it. */
function describeType(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  switch (typeof v) {
    case "string":
      return v.trim() === "" ? "empty text" : "text";
    case "number":
      return "a number";
    case "boolean":
      return "true/false";
    case "object":
      return "a mapping";
    default:
      return typeof v;
  }
}

/** Non-secret text values are short; quote them (truncated) so the user sees what was read. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

function readText(v: unknown, what: string): Read<string> {
  if (typeof v !== "string" || v.trim() === "") return fail(`expected ${what}, got ${describeType(v)}`);
  return ok(v.trim());
}

// mDNS instance names are one DNS label: at most 63 bytes (RFC 6763 §4.1.1).
const MAX_NAME_BYTES = 63;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function readName(v: unknown): Read<string> {
  const t = readText(v, "a device name");
  if (!t.ok) return t;
  if (CONTROL_RE.test(t.value)) return fail("control characters are not allowed in the name");
  const bytes = Buffer.byteLength(t.value, "utf8");
  if (bytes > MAX_NAME_BYTES) return fail(`at most ${MAX_NAME_BYTES} bytes (an mDNS label), got ${bytes}`);
  return ok(t.value);
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function readHostName(v: unknown, what: string): Read<string> {
  const t = readText(v, what);
  if (!t.ok) return t;
  if (isIP(t.value) !== 0 || HOSTNAME_RE.test(t.value)) return ok(t.value);
  return fail(`expected ${what}, got ${quote(t.value)}`);
}

// A Linux/BSD interface name: up to 15 characters, no spaces or slashes (IFNAMSIZ).
const INTERFACE_NAME_RE = /^[A-Za-z0-9_.:-]{1,15}$/;

function readMdnsInterface(v: unknown): Read<string> {
  const what = "an interface's IPv4 address or name, like 192.168.1.10 or eth0";
  const t = readText(v, what);
  if (!t.ok) return t;
  if (isIP(t.value) === 4 || (isIP(t.value) === 0 && INTERFACE_NAME_RE.test(t.value))) return ok(t.value);
  return fail(`expected ${what}, got ${quote(t.value)}`);
}

function readBindHost(v: unknown): Read<string> {
  return readHostName(v, "an IP address or host name to bind, like 0.0.0.0 or ::");
}

function readInteger(v: unknown, min: number, max: number, what: string): Read<number> {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    return fail(`expected ${what} (an integer ${min}-${max}), got ${describeType(v)}`);
  }
  if (v < min || v > max) return fail(`expected ${what} (an integer ${min}-${max}), got ${v}`);
  return ok(v);
}

function readListenPort(v: unknown): Read<number> {
  return readInteger(v, 0, 65535, "a TCP port, 0 = any free port");
}

function readSeconds(v: unknown, allowZero: boolean): Read<number> {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    return fail(`expected a number of seconds, got ${describeType(v)}`);
  }
  if (allowZero ? v < 0 : v <= 0) {
    return fail(`expected ${allowZero ? "0 or more" : "more than 0"} seconds, got ${v}`);
  }
  return ok(v);
}

function readBoolean(v: unknown): Read<boolean> {
  // YAML 1.2 reads only true/false as booleans; yes/on stay text.
  return typeof v === "boolean" ? ok(v) : fail(`expected true or false, got ${describeType(v)}`);
}

function readChoice<const T extends string | number>(
  v: unknown,
  choices: readonly T[],
  what: string,
): Read<T> {
  const found = choices.find((c) => c === v);
  if (found !== undefined) return ok(found);
  const got = typeof v === "string" ? quote(v) : typeof v === "number" ? String(v) : describeType(v);
  return fail(`expected ${what}: one of ${choices.join(", ")}; got ${got}`);
}

// Keys are often written grouped ("0011 2233 …", "00:11:…"); separators are dropped, as `--key` does.
const KEY_SEPARATORS_RE = /[\s:-]/g;
const HEX_RE = /^[0-9A-Fa-f]*$/;
const AES_KEY_HEX_DIGITS = 32;

/** A 16-byte AES key in hex. Never quotes the value: only its length and the kind of mistake. */
function readAesKey(v: unknown): Read<Buffer> {
  if (typeof v === "number") {
    return fail(`expected ${AES_KEY_HEX_DIGITS} hex digits as text, got a number: quote the key`);
  }
  if (typeof v !== "string") return fail(`expected ${AES_KEY_HEX_DIGITS} hex digits, got ${describeType(v)}`);
  const hex = v.replace(KEY_SEPARATORS_RE, "");
  if (!HEX_RE.test(hex)) return fail("expected hex digits (0-9, A-F), got other characters");
  if (hex.length !== AES_KEY_HEX_DIGITS) {
    return fail(`expected ${AES_KEY_HEX_DIGITS} hex digits (16 bytes), got ${hex.length} characters`);
  }
  return ok(Buffer.from(hex, "hex"));
}

// The seed binding's additionalKey is the whole AAD: the 0x30 security byte, then the 16-byte key.
const AAD_SECURITY_PREFIX = "30";

function readAuthenticationKey(v: unknown): Read<Buffer> {
  if (typeof v === "string") {
    const hex = v.replace(KEY_SEPARATORS_RE, "");
    if (hex.length === AES_KEY_HEX_DIGITS + 2 && hex.startsWith(AAD_SECURITY_PREFIX) && HEX_RE.test(hex)) {
      return ok(Buffer.from(hex.slice(2), "hex"));
    }
  }
  return readAesKey(v);
}

// ESPHome's api: encryption: key: base64 of a 32-byte Noise PSK is 44 characters, one '=' of padding.
const API_KEY_BYTES = 32;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function readApiEncryptionKey(v: unknown): Read<Buffer> {
  const what = `base64 of ${API_KEY_BYTES} bytes (44 characters, as ESPHome's api encryption key)`;
  if (typeof v !== "string") return fail(`expected ${what}, got ${describeType(v)}`);
  const text = v.trim();
  if (!BASE64_RE.test(text) || text.length % 4 !== 0) {
    return fail(`expected ${what}, got ${text.length} characters that are not valid base64`);
  }
  const key = Buffer.from(text, "base64");
  if (key.length !== API_KEY_BYTES) return fail(`expected ${what}, got ${key.length} bytes`);
  return ok(key);
}

// A bearer token travels as an HTTP/2 header value (RFC 6750 b64token): visible ASCII, no spaces. 16
// characters is the floor for something not guessable by a client on the LAN; 4096 bounds the header.
const TOKEN_RE = /^[\x21-\x7e]{16,4096}$/;

/** A gRPC bearer token. Never quotes the value: only its length and the kind of mistake. */
export function readGrpcToken(v: unknown): Read<Buffer> {
  const what = "a token of 16-4096 visible ASCII characters (openssl rand -hex 32)";
  if (typeof v !== "string") return fail(`expected ${what}, got ${describeType(v)}`);
  const text = v.trim();
  if (!TOKEN_RE.test(text)) {
    return fail(
      text.length < 16 || text.length > 4096
        ? `expected ${what}, got ${text.length} characters`
        : `expected ${what}, got spaces or other characters`,
    );
  }
  return ok(Buffer.from(text, "utf8"));
}

/** A TCP endpoint: `host:port`, `[v6]:port`. */
function readTcp(v: unknown): Read<{ host: string; port: number }> {
  const what = "HOST:PORT, like 192.168.1.50:2001 or [fd00::5]:2001";
  const t = readText(v, what);
  if (!t.ok) return t;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(t.value) ?? /^([^:[\]]+):(\d+)$/.exec(t.value);
  if (!m) {
    if (isIP(t.value) === 6) return fail(`expected ${what}: write IPv6 addresses in brackets, then the port`);
    return fail(
      t.value.includes(":")
        ? `expected ${what}, got ${quote(t.value)}`
        : `expected ${what}: the port is missing`,
    );
  }
  const host = m[1] as string;
  if (m[0].startsWith("[") && isIP(host) !== 6)
    return fail(`expected an IPv6 address in brackets, got ${quote(host)}`);
  const h = readHostName(host, "a host name or IP address before the port");
  if (!h.ok) return h;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return fail(`expected a port 1-65535 after the host, got ${port}`);
  return ok({ host: h.value, port });
}

/**
 * A simulator version name. YAML reads an unquoted 5.0 as the number 5 and 4.04 as 4.04: numbers map to
 * the name they were written as (integers get ".0"), as the scenario loader does; unambiguous for every
 * name in VERSIONS (a test checks). Names are matched case-insensitively.
 */
function readVersion(v: unknown): Read<VersionName> {
  const text = typeof v === "number" ? (Number.isInteger(v) ? v.toFixed(1) : String(v)) : v;
  if (typeof text === "string") {
    const found = VERSION_NAMES.find((n) => n.toLowerCase() === text.trim().toLowerCase());
    if (found !== undefined) return ok(found);
  }
  const got = typeof text === "string" ? quote(text) : describeType(v);
  return fail(`expected a simulator version: one of ${VERSION_NAMES.join(", ")}; got ${got}`);
}

const BAUD_RATES = [115200, 9600] as const;
/** Each baud rate's standard line settings: DSMR 4+ 8N1, DSMR 2.x/3.0 7E1 (dsmr/spec/serial.ts). */
const STANDARD_LINE: Readonly<Record<(typeof BAUD_RATES)[number], SerialSettings>> = {
  115200: SERIAL_115200_8N1,
  9600: SERIAL_9600_7E1,
};
/** Keys of the manual `baud` mapping. */
const BAUD_KEYS = ["baudRate", "dataBits", "parity", "stopBits"] as const;
const LINE_LABEL_RE = /^(115200|9600)\s*([78])([NE])1$/i;
const BAUD_WHAT = 'auto, 115200, 9600, a label like "115200 7E1", or {baudRate, dataBits, parity, stopBits}';

function isMapping(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `auto`, a baud rate (with its standard settings), a `115200 8N1` label, or a mapping. */
function readBaud(v: unknown): Read<"auto" | SerialSettings> {
  if (v === "auto") return ok("auto");
  const rate = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof rate === "number") {
    const standard = STANDARD_LINE[rate as (typeof BAUD_RATES)[number]];
    return standard ? ok(standard) : fail(`expected ${BAUD_WHAT}; got ${rate}`);
  }
  if (typeof v === "string") {
    const m = LINE_LABEL_RE.exec(v.trim());
    if (!m) return fail(`expected ${BAUD_WHAT}; got ${quote(v)}`);
    return ok({
      baudRate: Number(m[1]) as SerialSettings["baudRate"],
      dataBits: Number(m[2]) as SerialSettings["dataBits"],
      parity: m[3]?.toUpperCase() === "E" ? "even" : "none",
      stopBits: 1,
    });
  }
  if (!isMapping(v)) return fail(`expected ${BAUD_WHAT}; got ${describeType(v)}`);
  for (const k of Object.keys(v)) {
    if (!(BAUD_KEYS as readonly string[]).includes(k)) {
      return fail(unknownKeyProblem(k, "baud"), [k]);
    }
  }
  const baudRate = readChoice(v.baudRate, BAUD_RATES, "the baud rate");
  if (!baudRate.ok) return fail(baudRate.problem, ["baudRate"]);
  const standard = STANDARD_LINE[baudRate.value];
  const dataBits =
    v.dataBits === undefined ? ok(standard.dataBits) : readChoice(v.dataBits, [7, 8], "data bits");
  if (!dataBits.ok) return fail(dataBits.problem, ["dataBits"]);
  const parity =
    v.parity === undefined ? ok(standard.parity) : readChoice(v.parity, ["none", "even"], "parity");
  if (!parity.ok) return fail(parity.problem, ["parity"]);
  const stopBits = v.stopBits === undefined ? ok(1 as const) : readChoice(v.stopBits, [1], "stop bits");
  if (!stopBits.ok) return fail(stopBits.problem, ["stopBits"]);
  return ok({ baudRate: baudRate.value, dataBits: dataBits.value, parity: parity.value, stopBits: 1 });
}

/** `fanout: 2001` (the gateway's bind address) or `fanout: 127.0.0.1:2001`. */
function readFanout(v: unknown): Read<FanoutConfig> {
  const port = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof port === "number") {
    const p = readInteger(port, 0, 65535, "a TCP port for the raw fan-out, 0 = any free port");
    return p.ok ? ok({ host: null, port: p.value }) : p;
  }
  const t = readTcp(v);
  if (t.ok) return ok({ host: t.value.host, port: t.value.port });
  return fail(`expected PORT or HOST:PORT for the raw fan-out (like 2001 or 127.0.0.1:2001): ${t.problem}`);
}

const SOURCE_ID_RE = /^[a-z0-9_-]{1,32}$/;

function readSourceId(v: unknown): Read<string> {
  if (typeof v === "string" && SOURCE_ID_RE.test(v)) return ok(v);
  const got = typeof v === "string" ? quote(v) : describeType(v);
  return fail(`expected an id of 1-32 characters a-z, 0-9, _ and -; got ${got}`);
}

// M-Bus channels are OBIS value group B 1-4; the main meter is channel 0.
const MAX_CHANNEL = 4;

// ---- "Did you mean": close spellings, names of the seed binding, keys that belong elsewhere ----

function normalizeKey(k: string): string {
  return k.toLowerCase().replace(/[\s_-]/g, "");
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** The closest known key when `key` looks like a misspelling of it (case, separators, 1-2 letters off). */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const n = normalizeKey(key);
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const d = editDistance(n, normalizeKey(k));
    if (best === undefined || d < best.distance) best = { key: k, distance: d };
  }
  const limit = n.length >= 6 ? 2 : 1;
  return best !== undefined && best.distance <= limit ? best.key : undefined;
}

/** Names other tools (the seed binding, ESPHome) use, and what this gateway calls them. */
const KEY_ALIASES: Readonly<Record<string, string>> = {
  additionalkey: '"authenticationKey" (the seed binding\'s additionalKey; its "30" prefix may stay)',
  refresh: '"refreshRate"',
  baudrate: '"baud"',
  databits: "baud: {baudRate, dataBits, parity, stopBits}",
  parity: "baud: {baudRate, dataBits, parity, stopBits}",
  stopbits: "baud: {baudRate, dataBits, parity, stopBits}",
  port: "serialPort, tcp, grpcPort or apiPort",
  key: "decryptionKey (the meter's key) or apiEncryptionKey (the native API's)",
  encryptionkey: "decryptionKey (the meter's key) or apiEncryptionKey (the native API's)",
  encryption: '"apiEncryptionKey"',
  version: '"simulate"',
};

/** Where an object sits in the file, for unknown-key hints. */
export type KeyScope = "top" | "source" | "meter" | "baud";

/**
 * What to tell about an unknown key: a close known spelling, the place the key belongs instead, or the
 * name this gateway uses for another tool's key. Keys are never silently ignored: typos must show.
 */
export function unknownKeyProblem(key: string, scope: KeyScope): string {
  const known = knownKeys(scope);
  const close = closestKey(key, known);
  if (close !== undefined) return `unknown key; did you mean "${close}"?`;
  if (scope === "top" && key in METER_KEYS)
    return "unknown key: it belongs in a meters entry (meters: - type: …)";
  if ((scope === "source" || scope === "meter") && (key in GATEWAY_KEYS || key === "sources")) {
    return "unknown key here: it is a top-level key";
  }
  if (scope === "meter" && key in SOURCE_KEYS) {
    return `not a per-meter key; a meters entry has ${Object.keys(METER_KEYS).join(", ")}`;
  }
  const alias = KEY_ALIASES[normalizeKey(key)];
  if (alias !== undefined) return `unknown key; did you mean ${alias}?`;
  return `unknown key; expected one of ${known.join(", ")}`;
}

function knownKeys(scope: KeyScope): readonly string[] {
  switch (scope) {
    case "top":
      return TOP_LEVEL_KEYS;
    case "source":
      return Object.keys(SOURCE_KEYS);
    case "meter":
      return Object.keys(METER_KEYS);
    case "baud":
      return BAUD_KEYS;
  }
}

// ---- The table of keys ----

/** Wraps a reader as a zod schema; problems become custom issues at the key (or below it). */
function field<T>(read: (v: unknown) => Read<T>) {
  return z.unknown().transform((v, ctx): T => {
    const r = read(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: "custom", message: r.problem, ...(r.at ? { path: [...r.at] } : {}) });
    return z.NEVER;
  });
}

/** A list whose type error says what an entry looks like. */
function list<T extends z.ZodType>(item: T, example: string) {
  return z.array(item, {
    error: (iss) =>
      iss.code === "invalid_type"
        ? `expected a list (${example}), got ${describeType(iss.input)}`
        : undefined,
  });
}

/** A mapping whose type error says what was found instead. */
function mapping<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "invalid_type"
        ? `expected a mapping (key: value lines), got ${describeType(iss.input)}`
        : undefined,
  });
}

/** Keys of one `meters` entry. */
export const METER_KEYS = {
  /** electricity | gas | water | heat | cooling | generic. */
  type: field((v) => readChoice(v, METER_TYPES, "a meter type")),
  /** 0 = main meter, 1-4 = M-Bus channel; absent = every meter of the type. */
  channel: field((v) => readInteger(v, 0, MAX_CHANNEL, "a channel: 0 = main meter, 1-4 = M-Bus")).optional(),
  /** Seconds between publications; 0 = every telegram. */
  refreshRate: field((v) => readSeconds(v, true)).optional(),
  /** last | mean | min | max over the period. */
  aggregate: field((v) => readChoice(v, AGGREGATES, "an aggregate")).optional(),
};

/** Keys that say where a source's bytes come from: exactly one per source (none = the simulator). */
export const CONNECTION_KEYS = ["serialPort", "tcp", "file", "simulate"] as const;
/** One of CONNECTION_KEYS. */
export type ConnectionKey = (typeof CONNECTION_KEYS)[number];

/** Keys of a source: in a `sources` entry, or at the top level (one source, and defaults for a list). */
export const SOURCE_KEYS = {
  /** Unique id, `[a-z0-9_-]`; default source1, source2… in a list, the kind for a single source. */
  id: field(readSourceId).optional(),
  /** Serial device: /dev/ttyUSB0, /dev/serial/by-id/…, COM3. */
  serialPort: field((v) => readText(v, "a serial port path, like /dev/ttyUSB0")).optional(),
  /** Serial line settings (serialPort only): auto | 115200 | 9600 | "115200 7E1" | mapping. */
  baud: field(readBaud).optional(),
  /** Data Request from RTS/DTR (serialPort only): none | rts | dtr | both. */
  dataRequest: field((v) => readChoice(v, DATA_REQUESTS, "a data-request line")).optional(),
  /** ser2net or Wi-Fi dongle: HOST:PORT. */
  tcp: field(readTcp).optional(),
  /** A capture to replay; relative to the configuration file. */
  file: field((v) => readText(v, "a file path")).optional(),
  /** Embedded simulator version (a name from VERSIONS). */
  simulate: field(readVersion).optional(),
  /** Re-serve the raw bytes for other readers: PORT or HOST:PORT. */
  fanout: field(readFanout).optional(),
  /** Serve the source as a native-API device for Home Assistant (default true); top level: every source. */
  nativeApi: field(readBoolean).optional(),
  /** Smarty / encrypted e-MUCS AES-128 key: 32 hex digits. */
  decryptionKey: field(readAesKey).optional(),
  /** GCM authentication key: 32 hex digits. */
  authenticationKey: field(readAuthenticationKey).optional(),
  /** Seconds without a valid telegram before entities go unavailable (> 0). */
  receivedTimeout: field((v) => readSeconds(v, false)).optional(),
  /** Default seconds between publications per meter; 0 = every telegram. */
  refreshRate: field((v) => readSeconds(v, true)).optional(),
  /** Default aggregate of throttled measurements. */
  aggregate: field((v) => readChoice(v, AGGREGATES, "an aggregate")).optional(),
  /** Per-meter refreshRate/aggregate; a source's list replaces the top-level one. */
  meters: list(mapping(METER_KEYS), "- type: gas").optional(),
};

/** Keys of the gateway itself: top level only. */
export const GATEWAY_KEYS = {
  /** Device name shown in Home Assistant and mDNS. */
  name: field(readName).optional(),
  /** Bind address of gRPC and the native API. */
  host: field(readBindHost).optional(),
  /** gRPC port; 0 = any free port. */
  grpcPort: field(readListenPort).optional(),
  /** ESPHome native API port; 0 = any free port. */
  apiPort: field(readListenPort).optional(),
  /** Noise PSK of the native API: base64 of 32 bytes; absent = plaintext. */
  apiEncryptionKey: field(readApiEncryptionKey).optional(),
  /** Announce over mDNS. */
  mdns: field(readBoolean).optional(),
  /** PEM certificate (chain) of the gRPC API: TLS on; relative to the configuration file. */
  grpcTlsCert: field((v) => readText(v, "a PEM certificate file path")).optional(),
  /** PEM private key of grpcTlsCert. */
  grpcTlsKey: field((v) => readText(v, "a PEM private key file path")).optional(),
  /** PEM CA bundle: gRPC clients must present a certificate it signed (mutual TLS). */
  grpcTlsClientCa: field((v) => readText(v, "a PEM CA certificate file path")).optional(),
  /** Bearer token every gRPC call must carry (`authorization: Bearer …`). */
  grpcToken: field(readGrpcToken).optional(),
  /** A file holding grpcToken (kept out of the configuration and of `ps`). */
  grpcTokenFile: field((v) => readText(v, "a token file path")).optional(),
  /** The one interface mDNS announces on (IPv4 address or name); absent = every interface. */
  mdnsInterface: field(readMdnsInterface).optional(),
};

/** A `sources` entry. */
export const SOURCE_SCHEMA = mapping(SOURCE_KEYS);

/** The whole file: gateway keys, one source's keys (or defaults for the list), and `sources`. */
export const CONFIG_SCHEMA = mapping({
  ...GATEWAY_KEYS,
  ...SOURCE_KEYS,
  sources: list(SOURCE_SCHEMA, "- serialPort: /dev/ttyUSB0").optional(),
});

/** A file's keys once each value is valid, before defaults and cross-key rules. */
export type RawConfig = z.output<typeof CONFIG_SCHEMA>;
/** A `sources` entry once each value is valid. */
export type RawSource = z.output<typeof SOURCE_SCHEMA>;
/** A `meters` entry once each value is valid. */
export type RawMeter = RawSource["meters"] extends readonly (infer M)[] | undefined ? M : never;

/** Keys written at the top level, as the file's readers see them (for hints and CLI overrides). */
export const TOP_LEVEL_KEYS: readonly string[] = [
  ...Object.keys(GATEWAY_KEYS),
  ...Object.keys(SOURCE_KEYS),
  "sources",
];
