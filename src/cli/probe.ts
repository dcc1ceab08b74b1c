import { parseArgs } from "node:util";
import { formatSerial, SERIAL_CANDIDATES } from "../dsmr/index.ts";
import { type DecoderOptions, TelegramDecoder } from "../gateway/index.ts";
import { discoverMeters } from "../meters/index.ts";
import type { P1Error } from "../shared/index.ts";
import { DATA_REQUEST_CHOICES, type DataRequestLine, SerialSource, TcpSource } from "../transport/index.ts";
import { parseAesKey, UsageError } from "./common.ts";
import { createTelegramJudge } from "./serial-judge.ts";

export const PROBE_HELP = `Usage: p1-gateway probe PATH|HOST:PORT [--seconds N] [--key HEX] [--data-request LINE]

Reads a P1 source for a while and prints one JSON report: serial settings found (serial ports are
detected automatically), DSMR version, whether telegrams are encrypted, the meters seen, telegrams
valid and dropped by error code, the CRC error rate, bytes read and, when nothing valid came, a hint.

Options:
  --seconds N          how long to read (default 15; DSMR 2.x/3.0 meters write only every 10 s)
  --key HEX            decryption key of an encrypted meter (Smarty): 32 hex digits
  --data-request LINE  raise rts, dtr or both after opening a serial port (adapters that wire it)
  -h, --help           show this help

Exit status: 0 valid telegrams arrived, 1 none did (or the source could not be opened), 2 usage error.`;

/** HOST:PORT, as opposed to a device path. */
const TCP_TARGET = /^([^/]+):(\d{1,5})$/;

/** `p1-gateway probe`: returns the exit code. */
export async function runProbe(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      seconds: { type: "string" },
      key: { type: "string" },
      "data-request": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(PROBE_HELP);
    return 0;
  }
  const [target, ...extra] = positionals;
  if (target === undefined || extra.length > 0) throw new UsageError("probe takes one PATH or HOST:PORT");
  const seconds = Number(values.seconds ?? 15);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError("--seconds must be a positive number of seconds");
  const decoderOptions: DecoderOptions =
    values.key === undefined ? {} : { decryptionKey: parseAesKey("--key", values.key) };

  const dataRequest = (values["data-request"] ?? "none") as DataRequestLine;
  if (!DATA_REQUEST_CHOICES.includes(dataRequest))
    throw new UsageError(`--data-request must be one of ${DATA_REQUEST_CHOICES.join(", ")}`);

  const tcp = TCP_TARGET.exec(target);
  const source = tcp
    ? new TcpSource({ host: tcp[1] as string, port: Number(tcp[2]) })
    : new SerialSource({
        path: target,
        settings: "auto",
        candidates: SERIAL_CANDIDATES,
        createJudge: createTelegramJudge,
        dataRequest,
      });

  const decoder = new TelegramDecoder(decoderOptions);
  let bytes = 0;
  let ok = 0;
  const dropped: Record<string, number> = {};
  let version: string | null = null;
  let encrypted: boolean | null = null;
  const meters = new Map<string, { type: string; channel: number; equipment_id: string | null }>();
  let opened = false;
  let failure: P1Error | null = null;
  const done = new AbortController();

  source.on("data", (chunk) => {
    bytes += chunk.length;
    for (const d of decoder.push(chunk)) {
      if (!d.ok) {
        dropped[d.error.code] = (dropped[d.error.code] ?? 0) + 1;
        if (d.error.code === "DECRYPT_FAILED") encrypted = true;
        continue;
      }
      ok++;
      version = d.telegram.version;
      encrypted = d.encryption !== null;
      for (const m of discoverMeters(d.telegram))
        meters.set(`${m.type}:${m.channel}`, {
          type: m.type,
          channel: m.channel,
          equipment_id: m.equipmentId,
        });
    }
  });
  const warnings: string[] = [];
  source.on("warning", (e) => warnings.push(e.message));
  source.on("open", () => {
    opened = true;
  });
  source.on("close", (error) => {
    // Failing before it ever opened (missing device, refused): waiting longer tells nothing new.
    if (!opened && error) {
      failure = error;
      done.abort();
    }
  });
  const timer = setTimeout(() => done.abort(), seconds * 1000);
  source.start();
  await new Promise<void>((resolve) =>
    done.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  clearTimeout(timer);
  await source.stop();

  const failed = failure as P1Error | null;
  if (failed) {
    out(
      JSON.stringify({
        ok: false,
        source: source.description,
        error: { code: failed.code, message: failed.message },
      }),
    );
    return 1;
  }
  const totalDropped = Object.values(dropped).reduce((a, b) => a + b, 0);
  const crcErrors = dropped.CRC_MISMATCH ?? 0;
  const framed = ok + totalDropped;
  const detected = source instanceof SerialSource ? source.detectedSettings : null;
  const report = {
    ok: ok > 0,
    source: source.description,
    seconds,
    ...(source instanceof SerialSource ? { serial_settings: detected ? formatSerial(detected) : null } : {}),
    version,
    encrypted,
    meters: [...meters.values()],
    telegrams_ok: ok,
    telegrams_dropped: dropped,
    crc_error_rate: framed === 0 ? null : crcErrors / framed,
    bytes,
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(ok > 0 ? {} : { hint: hintFor(bytes, dropped, opened) }),
  };
  out(JSON.stringify(report));
  return ok > 0 ? 0 : 1;
}

/** What to check when no valid telegram arrived, from what did arrive. */
function hintFor(bytes: number, dropped: Readonly<Record<string, number>>, opened: boolean): string {
  if (!opened)
    return "the source never delivered a valid telegram: check the cable, the inverted signal and the request line (RTS/5 V)";
  if (bytes === 0)
    return "no bytes arrived: is the P1 port enabled and the request line (RTS/5 V) powered? DSMR 2.x/3.0 write only every 10 s: try --seconds 30";
  if (dropped.DECRYPT_FAILED)
    return "telegrams are encrypted: pass the meter's key with --key (ask the grid operator)";
  return "bytes arrived but no valid telegram: wrong serial settings, an inverted signal or a noisy cable";
}
