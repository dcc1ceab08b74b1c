import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import type * as protoLoader from "@grpc/proto-loader";
import { GATEWAY_SERVICE, loadGatewayPackage, type PbDiagnostics } from "../api/grpc/index.ts";
import { fileErrorReason } from "../shared/index.ts";
import { UsageError } from "./common.ts";
import { GRPC_TOKEN_ENV } from "./serve.ts";

/** `p1-gateway diagnostics --help`. */
export const DIAGNOSTICS_HELP = `Usage: p1-gateway diagnostics [options]

Fetches a redacted diagnostics bundle from a running gateway (gRPC GetDiagnostics) and prints it, to
paste into a bug report: versions (p1-gateway, Node, OS), each source's link state, protocol version and
counters, the configuration with keys as "***", the last telegrams with equipment ids masked, and for
encrypted meters which AES-GCM decrypts them (native addon, or node:crypto and why).
The gateway does the redaction; the bundle holds no key and no meter identifier.

Options:
  --grpc HOST:PORT     the gateway's gRPC address (default 127.0.0.1:50051)
  --token-file FILE    send the gRPC token read from FILE (or set ${GRPC_TOKEN_ENV})
  --token TOKEN        send this gRPC token (visible in ps; prefer the file or the variable)
  --cacert FILE        connect with TLS, trusting this PEM certificate or CA
  --cert FILE          client certificate (PEM) for mutual TLS; with --key
  --key FILE           its private key
  --json               print the bundle as JSON instead of text
  --timeout S          give up after S seconds (default 10)
  -h, --help           show this help

Exit status: 0 printed, 1 the gateway could not be reached or refused, 2 usage error.`;

/** Protobuf JSON of the bundle as proto-loader decodes it (longs as numbers, enums as names). */
type Bundle = PbDiagnostics;

function readOptionFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${option}: cannot read ${path}: ${fileErrorReason(e)}`);
  }
}

function credentialsOf(
  values: Readonly<Record<string, string | boolean | undefined>>,
): grpc.ChannelCredentials {
  const str = (k: string): string | undefined =>
    typeof values[k] === "string" ? (values[k] as string) : undefined;
  const [ca, cert, key] = [str("cacert"), str("cert"), str("key")];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --key go together");
  if (ca === undefined && cert === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    ca === undefined ? null : readOptionFile("--cacert", ca),
    key === undefined ? null : readOptionFile("--key", key),
    cert === undefined ? null : readOptionFile("--cert", cert),
  );
}

function tokenOf(values: Readonly<Record<string, string | boolean | undefined>>): string | undefined {
  const inline = values.token;
  const file = values["token-file"];
  if (typeof inline === "string" && typeof file === "string")
    throw new UsageError("give --token or --token-file, not both");
  const token =
    typeof inline === "string"
      ? inline
      : typeof file === "string"
        ? readOptionFile("--token-file", file).toString("utf8")
        : process.env[GRPC_TOKEN_ENV];
  const trimmed = token?.trim();
  // Never quoted: a token given by mistake in the wrong place is still a secret.
  if (trimmed !== undefined && !/^[\x21-\x7e]+$/.test(trimmed))
    throw new UsageError("the token holds spaces or characters outside visible ASCII");
  return trimmed === "" ? undefined : trimmed;
}

function fetchBundle(
  address: string,
  credentials: grpc.ChannelCredentials,
  token: string | undefined,
  timeoutMs: number,
): Promise<Bundle> {
  const pkg = loadGatewayPackage();
  const service = pkg[GATEWAY_SERVICE] as protoLoader.ServiceDefinition;
  const method = service.GetDiagnostics as protoLoader.MethodDefinition<object, Bundle>;
  const client = new grpc.Client(address, credentials);
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  return new Promise<Bundle>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      {},
      metadata,
      { deadline: Date.now() + timeoutMs },
      (err, value) => {
        client.close();
        if (err) reject(err);
        else if (value === undefined) reject(new Error("empty response"));
        else resolve(value);
      },
    );
  });
}

function time(t: { seconds: number; nanos: number } | null | undefined): string {
  return t ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : "-";
}

function dropped(c: { telegrams_dropped: Readonly<Record<string, number>> }): string {
  const parts = Object.entries(c.telegrams_dropped).map(([code, n]) => `${code} ${n}`);
  return parts.length === 0 ? "0 dropped" : `dropped: ${parts.join(", ")}`;
}

/** The bundle as text for a bug report: a header, the sources, the configuration, then the telegrams. */
export function formatBundle(b: Bundle): string {
  const lines = [
    `p1-gateway diagnostics, ${time(b.generated_time)}`,
    `p1-gateway ${b.version} · Node ${b.node_version} · ${b.os}`,
    ...(b.aes_gcm ? [`AES-GCM decryption: ${b.aes_gcm}`] : []),
    ...b.notes.map((n) => `note: ${n}`),
    "",
    "Sources:",
  ];
  for (const s of b.info.sources) {
    const c = s.counters;
    lines.push(
      `  ${s.id}: ${s.description} · ${s.link_state.replace("LINK_STATE_", "").toLowerCase()} · ` +
        `protocol ${s.protocol_version || "not detected"}${s.encrypted ? " (encrypted)" : ""} · ` +
        `last telegram ${time(s.last_telegram_time)}`,
      `    ${c.telegrams_ok} telegrams ok, ${dropped(c)}, ${c.bytes} bytes, ${c.skipped_bytes} skipped, ` +
        `${c.reconnects} reconnects, ${c.anomalies} anomalies`,
      ...s.meters.map(
        (m) => `    meter ${m.id} (${m.type.replace("METER_TYPE_", "").toLowerCase()}, channel ${m.channel})`,
      ),
    );
  }
  const g = b.info.counters;
  lines.push(`Gateway: ${g.clients} clients, ${g.coalesced} coalesced`, "");
  lines.push("Configuration (keys shown as ***):", `  ${b.config_json || "(not available)"}`, "");
  lines.push(`Last telegrams (${b.telegrams.length}):`);
  for (const t of b.telegrams) {
    lines.push(
      `--- ${t.source_id} ${time(t.received_time)} ${t.outcome} ${t.bytes} bytes` +
        `${t.encrypted ? `, encrypted, header ${t.frame_header}` : ""}` +
        `${t.masked_values > 0 ? `, ${t.masked_values} values masked (CRC no longer matches)` : ""}`,
    );
    lines.push(t.text === "" ? "(no text)" : t.text.replace(/\r\n/g, "\n").replace(/\n$/, ""));
  }
  return lines.join("\n");
}

/** `p1-gateway diagnostics`: prints a running gateway's redacted diagnostics bundle. */
export async function runDiagnostics(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      grpc: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      cacert: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      json: { type: "boolean" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(DIAGNOSTICS_HELP);
    return 0;
  }
  const address = values.grpc ?? "127.0.0.1:50051";
  if (!/^(\[[^\]]+\]|[^:[\]]+):\d{1,5}$/.test(address))
    throw new UsageError(`--grpc must be HOST:PORT, got ${JSON.stringify(address.slice(0, 80))}`);
  const timeoutS = Number(values.timeout ?? 10);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0)
    throw new UsageError("--timeout must be a number of seconds > 0");
  const credentials = credentialsOf(values);
  const token = tokenOf(values);
  let bundle: Bundle;
  try {
    bundle = await fetchBundle(address, credentials, token, timeoutS * 1000);
  } catch (e) {
    const err = e as grpc.ServiceError;
    const hint =
      err.code === grpc.status.UNAUTHENTICATED
        ? ` (the gateway wants a token: --token-file FILE or ${GRPC_TOKEN_ENV})`
        : err.code === grpc.status.UNIMPLEMENTED
          ? " (the gateway is older than the diagnostics command)"
          : "";
    process.stderr.write(`p1-gateway diagnostics: ${address}: ${err.details ?? err.message}${hint}\n`);
    return 1;
  }
  out(values.json ? JSON.stringify(bundle, null, 2) : formatBundle(bundle));
  return 0;
}
