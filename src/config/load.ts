import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isNode, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { fileErrorReason, P1Error } from "../shared/index.ts";
import {
  CONFIG_SCHEMA,
  CONNECTION_KEYS,
  type ConnectionKey,
  DEFAULTS,
  GATEWAY_KEYS,
  type GatewayConfig,
  type KeyScope,
  type MeterConfig,
  type MeterPolicy,
  type MeterType,
  type RawConfig,
  type RawMeter,
  type RawSource,
  SOURCE_KEYS,
  type SourceBase,
  type SourceConfig,
  unknownKeyProblem,
} from "./schema.ts";
import { resolveGrpcSecurity, sharedFileWarning } from "./security.ts";

/** Values given by CLI flags, under the keys of the file; a source flag replaces every configured source. */
export interface ConfigOverrides {
  readonly serialPort?: string | undefined;
  /** HOST:PORT. */
  readonly tcp?: string | undefined;
  readonly file?: string | undefined;
  readonly simulate?: string | undefined;
  readonly host?: string | undefined;
  /** A number, or the flag's text (digits are read as a number). */
  readonly grpcPort?: number | string | undefined;
  readonly apiPort?: number | string | undefined;
  readonly apiEncryptionKey?: string | undefined;
  readonly mdns?: boolean | undefined;
  readonly mdnsInterface?: string | undefined;
  readonly decryptionKey?: string | undefined;
  readonly authenticationKey?: string | undefined;
  readonly receivedTimeout?: number | string | undefined;
  readonly name?: string | undefined;
  /** rts | dtr | both | none. */
  readonly dataRequest?: string | undefined;
  /** PORT or HOST:PORT of the raw fan-out. */
  readonly fanout?: number | string | undefined;
  /** false: no native-API device for any source (gRPC only). */
  readonly nativeApi?: boolean | undefined;
  /** gRPC TLS files and token; paths relative to the working directory. */
  readonly grpcTlsCert?: string | undefined;
  readonly grpcTlsKey?: string | undefined;
  readonly grpcTlsClientCa?: string | undefined;
  readonly grpcToken?: string | undefined;
  readonly grpcTokenFile?: string | undefined;
}

/** Options of `loadConfig`. */
export interface LoadOptions {
  /** Told about things that work but should not be so (a key file readable by others); never a value. */
  readonly onWarning?: (message: string) => void;
}

/** Options of `parseConfig` that only a file gives. */
export interface ParseOptions {
  /** Directory that relative `file:` paths are relative to (the configuration file's). */
  readonly baseDir?: string;
  /** Line (1-based) of the value at a key path, for messages. */
  readonly lineOf?: (path: readonly (string | number)[]) => number | undefined;
}

/** `file: -` reads standard input (the CLI's convention); it is not a path to resolve. */
const STDIN = "-";

/** One thing wrong with a configuration: where (key path) and what. */
interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** `sources[1].decryptionKey` */
function formatKey(path: readonly (string | number)[]): string {
  if (path.length === 0) return "(top level)";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** One error for all problems: `origin[:line]: key: problem` per line; context.key is the first key. */
function configError(origin: string, problems: readonly Problem[], lineOf?: ParseOptions["lineOf"]): P1Error {
  const seen = new Set<string>();
  const listed: { key: string; message: string; line?: number }[] = [];
  for (const p of problems) {
    const key = formatKey(p.path);
    if (seen.has(`${key}\n${p.message}`)) continue;
    seen.add(`${key}\n${p.message}`);
    const line = lineOf?.(p.path);
    listed.push(line === undefined ? { key, message: p.message } : { key, message: p.message, line });
  }
  listed.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const text = listed
    .map((p) => `${origin}${p.line === undefined ? "" : `:${p.line}`}: ${p.key}: ${p.message}`)
    .join("\n");
  return new P1Error("CONFIG_INVALID", text, {
    origin,
    key: listed[0]?.key ?? "(top level)",
    problems: listed,
  });
}

function isMapping(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** `key:` with nothing after it reads as null in YAML: the same as leaving the key out. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isMapping(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => [k, dropNulls(x)]),
  );
}

function scopeOf(path: readonly PropertyKey[]): KeyScope {
  if (path.length === 0) return "top";
  if (path.at(-2) === "meters") return "meter";
  if (path.at(-1) === "baud") return "baud";
  return "source";
}

/** Zod issues as problems; each unknown key is its own problem, with a hint. */
function problemsOf(issues: readonly z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = issue.path.map((p) => (typeof p === "number" ? p : String(p)));
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({ path: [...path, k], message: unknownKeyProblem(k, scopeOf(path)) }));
    }
    return [{ path, message: issue.message }];
  });
}

/**
 * Validates a parsed configuration (YAML's output) and fills in defaults. `origin` names the file (or
 * "command line") in messages. Throws P1Error CONFIG_INVALID listing every problem by key path; values of
 * keys never appear in it.
 */
export function parseConfig(raw: unknown, origin: string, options: ParseOptions = {}): GatewayConfig {
  const parsed = CONFIG_SCHEMA.safeParse(dropNulls(raw ?? {}));
  if (!parsed.success) throw configError(origin, problemsOf(parsed.error.issues), options.lineOf);
  const problems: Problem[] = [];
  const config = resolveConfig(parsed.data, problems, options.baseDir);
  if (problems.length > 0) throw configError(origin, problems, options.lineOf);
  return config;
}

function resolveConfig(raw: RawConfig, problems: Problem[], baseDir: string | undefined): GatewayConfig {
  const grpcPort = raw.grpcPort ?? DEFAULTS.grpcPort;
  const apiPort = raw.apiPort ?? DEFAULTS.apiPort;
  if (grpcPort !== 0 && grpcPort === apiPort) {
    problems.push({ path: ["apiPort"], message: `must differ from grpcPort (both ${apiPort})` });
  }
  const sources = resolveSources(raw, problems, baseDir);
  sources.forEach((s, i) => {
    const at = raw.sources === undefined ? ["fanout"] : ["sources", i, "fanout"];
    if (s.fanout && s.fanout.port !== 0 && (s.fanout.port === grpcPort || s.fanout.port === apiPort))
      problems.push({ path: at, message: `must differ from grpcPort and apiPort (${s.fanout.port})` });
  });
  return {
    name: raw.name ?? DEFAULTS.name,
    host: raw.host ?? null,
    grpcPort,
    apiPort,
    apiEncryptionKey: raw.apiEncryptionKey ?? null,
    mdns: raw.mdns ?? null,
    mdnsInterface: raw.mdnsInterface ?? null,
    sources,
    ...resolveGrpcSecurity(raw, problems, baseDir),
  };
}

function connectionKeysOf(s: RawSource): ConnectionKey[] {
  return CONNECTION_KEYS.filter((k) => s[k] !== undefined);
}

function resolveSources(raw: RawConfig, problems: Problem[], baseDir: string | undefined): SourceConfig[] {
  if (raw.sources === undefined) {
    // One source written at the top level; none at all = the embedded simulator.
    const single = resolveSource(raw, raw, [], undefined, problems, baseDir);
    return single ? [single] : [];
  }
  for (const k of [...CONNECTION_KEYS, "id", "fanout"] as const) {
    if (raw[k] !== undefined) {
      problems.push({ path: [k], message: "not allowed beside a sources list: write it in a sources entry" });
    }
  }
  if (raw.sources.length === 0) {
    problems.push({
      path: ["sources"],
      message: "empty list: list at least one source, or remove sources to run the embedded simulator",
    });
  }
  const sources: SourceConfig[] = [];
  const firstUse = new Map<string, number>();
  raw.sources.forEach((entry, i) => {
    const source = resolveSource(entry, raw, ["sources", i], `source${i + 1}`, problems, baseDir);
    if (!source) return;
    // Two readers of one serial port or dongle would fight over it; ids name sources everywhere.
    const uses = [`id ${JSON.stringify(source.id)}`];
    if (source.kind === "serial") uses.push(`serial port ${source.path}`);
    if (source.kind === "tcp") uses.push(`endpoint ${source.host}:${source.port}`);
    if (source.fanout && source.fanout.port !== 0) uses.push(`fanout port ${source.fanout.port}`);
    for (const use of uses) {
      const first = firstUse.get(use);
      if (first === undefined) firstUse.set(use, i);
      else {
        const key = use.startsWith("id ")
          ? entry.id === undefined
            ? []
            : ["id"]
          : use.startsWith("fanout ")
            ? ["fanout"]
            : [connectionKeysOf(entry)[0] ?? ""];
        problems.push({
          path: ["sources", i, ...key],
          message: `${use} is already used by sources[${first}]`,
        });
      }
    }
    sources.push(source);
  });
  return sources;
}

/**
 * One source from its own keys, inheriting unset ones from the top level. `defaultId` is the list
 * position's id; a single source is named after its kind.
 */
function resolveSource(
  own: RawSource,
  top: RawSource,
  path: readonly (string | number)[],
  defaultId: string | undefined,
  problems: Problem[],
  baseDir: string | undefined,
): SourceConfig | undefined {
  const connection = connectionKeysOf(own);
  const [kindKey, extra] = connection;
  if (extra !== undefined) {
    problems.push({
      path: [...path, extra],
      message: `a source has one of ${CONNECTION_KEYS.join(", ")}; this one also has ${kindKey}`,
    });
  }
  if (kindKey === undefined && path.length > 0) {
    problems.push({ path, message: `expected one of ${CONNECTION_KEYS.join(", ")} in each source` });
    return undefined;
  }
  for (const key of ["baud", "dataRequest"] as const) {
    if (own[key] !== undefined && kindKey !== "serialPort")
      problems.push({ path: [...path, key], message: "applies to serialPort sources only" });
  }

  const decryptionKey = own.decryptionKey ?? top.decryptionKey ?? null;
  const authenticationKey = own.authenticationKey ?? top.authenticationKey ?? null;
  if (authenticationKey !== null && decryptionKey === null) {
    const at = own.authenticationKey !== undefined ? path : [];
    problems.push({
      path: [...at, "authenticationKey"],
      message: "needs decryptionKey (it authenticates encrypted frames)",
    });
  }
  const policy: MeterPolicy = {
    refreshRateS: own.refreshRate ?? top.refreshRate ?? DEFAULTS.refreshRateS,
    aggregate: own.aggregate ?? top.aggregate ?? DEFAULTS.aggregate,
  };
  const metersPath = own.meters !== undefined ? [...path, "meters"] : ["meters"];
  const base = {
    decryptionKey,
    authenticationKey,
    fanout: own.fanout ?? null,
    nativeApi: own.nativeApi ?? top.nativeApi ?? true,
    receivedTimeoutS: own.receivedTimeout ?? top.receivedTimeout ?? DEFAULTS.receivedTimeoutS,
    ...policy,
    meters: resolveMeters(own.meters ?? top.meters ?? [], policy, metersPath, problems),
  };
  const idOf = (kind: SourceConfig["kind"]): string => own.id ?? defaultId ?? kind;

  if (own.serialPort !== undefined) {
    const serial = own.baud ?? top.baud ?? "auto";
    const dataRequest = own.dataRequest ?? top.dataRequest ?? "none";
    return { kind: "serial", id: idOf("serial"), path: own.serialPort, serial, dataRequest, ...base };
  }
  if (own.tcp !== undefined) return { kind: "tcp", id: idOf("tcp"), ...own.tcp, ...base };
  if (own.file !== undefined) {
    const file = baseDir === undefined || own.file === STDIN ? own.file : resolve(baseDir, own.file);
    return { kind: "file", id: idOf("file"), path: file, ...base };
  }
  const version = own.simulate ?? DEFAULTS.simulate;
  return { kind: "simulator", id: idOf("simulator"), version, ...base };
}

/** Fills each entry's unset fields from its type-wide entry (no channel), then from the source. */
function resolveMeters(
  rules: readonly RawMeter[],
  source: MeterPolicy,
  path: readonly (string | number)[],
  problems: Problem[],
): MeterConfig[] {
  const seen = new Map<string, number>();
  rules.forEach((m, j) => {
    const key = `${m.type} ${m.channel === undefined ? "(every channel)" : `channel ${m.channel}`}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, j);
    else problems.push({ path: [...path, j], message: `${key} is already configured by meters[${first}]` });
  });
  return rules.map((m) => {
    const wide =
      m.channel === undefined ? undefined : rules.find((r) => r.type === m.type && r.channel === undefined);
    return {
      type: m.type,
      channel: m.channel ?? null,
      refreshRateS: m.refreshRate ?? wide?.refreshRate ?? source.refreshRateS,
      aggregate: m.aggregate ?? wide?.aggregate ?? source.aggregate,
    };
  });
}

/** The policy of one meter: its type+channel entry, else its type's entry, else the source's defaults. */
export function meterPolicy(
  source: Pick<SourceBase, "meters" | "refreshRateS" | "aggregate">,
  type: MeterType,
  channel: number,
): MeterPolicy {
  const match =
    source.meters.find((m) => m.type === type && m.channel === channel) ??
    source.meters.find((m) => m.type === type && m.channel === null) ??
    source;
  return { refreshRateS: match.refreshRateS, aggregate: match.aggregate };
}

/**
 * Bind address and mDNS once the CLI's defaults apply (DESIGN.md): a gateway whose only sources are
 * embedded simulators binds 127.0.0.1 and stays silent, so a simulated meter never appears in a real
 * Home Assistant by surprise; real sources bind every interface and announce.
 */
export function resolveNetwork(config: GatewayConfig): { host: string; mdns: boolean } {
  const simulatedOnly = config.sources.every((s) => s.kind === "simulator");
  return {
    // Announcing a loopback-only API would send Home Assistant nowhere: asking for mDNS opens the bind.
    host: config.host ?? (simulatedOnly && config.mdns !== true ? "127.0.0.1" : "0.0.0.0"),
    mdns: config.mdns ?? !simulatedOnly,
  };
}

/** A JSON-safe view of T where every key (Buffer) reads "***". */
export type Redacted<T> = T extends Buffer
  ? "***"
  : T extends readonly (infer U)[]
    ? readonly Redacted<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Redacted<T[K]> }
      : T;

function redact(v: unknown): unknown {
  // Every Buffer in a configuration is a key.
  if (Buffer.isBuffer(v)) return "***";
  if (Array.isArray(v)) return v.map(redact);
  if (isMapping(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redact(x)]));
  return v;
}

/** A copy safe to log or serve (GetInfo, diagnostics): keys replaced by "***", unset keys stay null. */
export function redactConfig(config: GatewayConfig): Redacted<GatewayConfig> {
  return redact(config) as Redacted<GatewayConfig>;
}

// ---- Files and flags ----

/** Origin of flag values in messages. */
const COMMAND_LINE = "command line";
// A configuration is a few kilobytes; anything this big is the wrong file (a capture given to --config).
const MAX_CONFIG_BYTES = 1024 * 1024;

function fileError(path: string, why: string): P1Error {
  return new P1Error("CONFIG_INVALID", `${path}: cannot read the file: ${why}`, {
    origin: path,
    key: "(file)",
  });
}

/** Reads and parses a YAML file; errors name the line. Returns the data and a key path -> line lookup. */
function readYaml(path: string): { data: unknown; lineOf: NonNullable<ParseOptions["lineOf"]> } {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES)
      throw fileError(path, `${size} bytes; a configuration is at most ${MAX_CONFIG_BYTES}`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof P1Error) throw e;
    throw fileError(path, fileErrorReason(e));
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  // Warnings count too: an unresolved tag (ESPHome's !secret) would otherwise read as plain text.
  const bad = doc.errors[0] ?? doc.warnings[0];
  if (bad) {
    const line = bad.linePos?.[0].line ?? lines.linePos(bad.pos[0]).line;
    // The library's message describes the syntax; its source excerpt (which could hold a key) is cut.
    const reason = bad.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? bad.code;
    throw new P1Error("CONFIG_INVALID", `${path}:${line}: not valid YAML: ${reason}`, {
      origin: path,
      key: "(yaml)",
      line,
    });
  }
  const lineOf = (keyPath: readonly (string | number)[]): number | undefined => {
    for (let n = keyPath.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(keyPath.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { data: doc.toJS(), lineOf };
}

/** Flag values are checked by the same readers as the file's; flags that are numbers may arrive as text. */
const OVERRIDE_SCHEMA = z.strictObject({
  ...GATEWAY_KEYS,
  serialPort: SOURCE_KEYS.serialPort,
  tcp: SOURCE_KEYS.tcp,
  file: SOURCE_KEYS.file,
  simulate: SOURCE_KEYS.simulate,
  decryptionKey: SOURCE_KEYS.decryptionKey,
  authenticationKey: SOURCE_KEYS.authenticationKey,
  receivedTimeout: SOURCE_KEYS.receivedTimeout,
  dataRequest: SOURCE_KEYS.dataRequest,
  fanout: SOURCE_KEYS.fanout,
  nativeApi: SOURCE_KEYS.nativeApi,
});
const NUMERIC_FLAGS: ReadonlySet<string> = new Set(["grpcPort", "apiPort", "receivedTimeout", "fanout"]);
const NUMBER_RE = /^-?\d+(\.\d+)?$/;
// Keys a file may also set inside sources entries: a flag must win over those too.
const PER_SOURCE_FLAGS = [
  "decryptionKey",
  "authenticationKey",
  "receivedTimeout",
  "dataRequest",
  "nativeApi",
] as const;
// Flags naming files (besides `file`), relative to the working directory.
const PATH_FLAGS = ["grpcTlsCert", "grpcTlsKey", "grpcTlsClientCa", "grpcTokenFile"] as const;
// Either one replaces both: a token given on the command line wins over the file's token file.
const TOKEN_KEYS = ["grpcToken", "grpcTokenFile"] as const;
// Keys whose values are secrets: a file holding one must not be readable by other users.
const SECRET_KEYS = ["decryptionKey", "authenticationKey", "apiEncryptionKey", "grpcToken"] as const;

/** Checks flag values; returns them as a file would write them. */
function checkOverrides(overrides: ConfigOverrides): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    given[k] = NUMERIC_FLAGS.has(k) && typeof v === "string" && NUMBER_RE.test(v.trim()) ? Number(v) : v;
  }
  const problems: Problem[] = [];
  const checked = OVERRIDE_SCHEMA.safeParse(given);
  if (!checked.success) problems.push(...problemsOf(checked.error.issues));
  const sourceFlags = CONNECTION_KEYS.filter((k) => given[k] !== undefined);
  if (sourceFlags.length > 1) {
    problems.push({
      path: [sourceFlags[1] ?? ""],
      message: `give one source only; ${sourceFlags[0]} is given too`,
    });
  }
  if (problems.length > 0) throw configError(COMMAND_LINE, problems);
  // A replayed file given on the command line is relative to the working directory.
  if (typeof given.file === "string" && given.file !== STDIN) given.file = resolve(given.file);
  for (const k of PATH_FLAGS) if (typeof given[k] === "string") given[k] = resolve(given[k]);
  return given;
}

/** The file's data with flags applied: a source flag replaces every configured source. */
function applyOverrides(data: unknown, flags: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = isMapping(data) ? { ...data } : {};
  const sourceFlag = CONNECTION_KEYS.find((k) => flags[k] !== undefined);
  if (sourceFlag !== undefined) {
    for (const k of [...CONNECTION_KEYS, "id", "sources"]) delete out[k];
    // baud belongs to the file's serial port; it would be an error beside another kind of source.
    if (sourceFlag !== "serialPort") {
      delete out.baud;
      delete out.dataRequest;
    }
  }
  if (TOKEN_KEYS.some((k) => flags[k] !== undefined)) for (const k of TOKEN_KEYS) delete out[k];
  const entries = out.sources;
  if (Array.isArray(entries)) {
    out.sources = entries.map((s: unknown) =>
      isMapping(s)
        ? Object.fromEntries(
            Object.entries(s).filter(([k]) => !PER_SOURCE_FLAGS.some((f) => f === k && k in flags)),
          )
        : s,
    );
  }
  return { ...out, ...flags };
}

/**
 * The gateway's configuration: the YAML file at `path` (none = defaults), then CLI flags over it.
 * Throws P1Error CONFIG_INVALID naming the file (or "command line"), the key path and the problem.
 */
export function loadConfig(
  path: string | undefined,
  overrides: ConfigOverrides = {},
  options: LoadOptions = {},
): GatewayConfig {
  const flags = checkOverrides(overrides);
  if (path === undefined) {
    const config = parseConfig(applyOverrides({}, flags), COMMAND_LINE);
    warnSharedSecrets(config, undefined, options);
    return config;
  }
  const { data, lineOf } = readYaml(path);
  const baseDir = dirname(resolve(path));
  // The file must be valid on its own, even where flags replace parts of it: typos never hide.
  const fromFile = parseConfig(data, path, { baseDir, lineOf });
  const config =
    Object.keys(flags).length === 0
      ? fromFile
      : parseConfig(applyOverrides(data, flags), `${path} with the ${COMMAND_LINE}`, { baseDir });
  warnSharedSecrets(config, { path, data }, options);
  return config;
}

/** Secret keys written in a file's data (top level and sources entries), by name. */
function secretKeysIn(data: unknown): string[] {
  const entries = isMapping(data) && Array.isArray(data.sources) ? data.sources : [];
  const found = new Set<string>();
  for (const m of [data, ...entries]) {
    if (!isMapping(m)) continue;
    for (const k of SECRET_KEYS) if (m[k] !== undefined && m[k] !== null) found.add(k);
  }
  return [...found];
}

/** Warns about files holding secrets that other users can read: the configuration, key and token files. */
function warnSharedSecrets(
  config: GatewayConfig,
  file: { readonly path: string; readonly data: unknown } | undefined,
  options: LoadOptions,
): void {
  const warn = options.onWarning;
  if (warn === undefined) return;
  const checks: [string, string][] = [];
  const keys = file === undefined ? [] : secretKeysIn(file.data);
  if (file !== undefined && keys.length > 0) checks.push([file.path, `keys (${keys.join(", ")})`]);
  if (config.grpcTls) checks.push([config.grpcTls.keyFile, "the gRPC TLS private key (grpcTlsKey)"]);
  if (config.grpcTokenFile !== undefined)
    checks.push([config.grpcTokenFile, "the gRPC token (grpcTokenFile)"]);
  for (const [path, what] of checks) {
    const warning = sharedFileWarning(path, what);
    if (warning !== null) warn(warning);
  }
}
