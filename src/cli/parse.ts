import { parseArgs } from "node:util";
import { type Decoded, type DecoderOptions, TelegramDecoder } from "../gateway/index.ts";
import { parseAesKey, parsePositiveInt, readInput } from "./common.ts";
import { decodedToJson } from "./json.ts";

export const PARSE_HELP = `Usage: p1-gateway parse [FILE|-] [--key HEX] [--aad HEX] [--repeat N]

Reads raw P1 bytes (one or many telegrams, or encrypted frames) from FILE or stdin and prints one
JSON object per telegram, one per line. Invalid telegrams print {"ok":false,"error":{...}}.

Options:
  --key HEX      decryption key for encrypted meters (Smarty): 32 hex digits
  --aad HEX      authentication key: 32 hex digits (default: Smarty's 00112233445566778899AABBCCDDEEFF)
  --repeat N     parse the input N times and print only a throughput summary
  -h, --help     show this help

Exit status: 0 all telegrams valid, 1 some were invalid, 2 usage error.`;

function decodeAll(input: Buffer, options: DecoderOptions): Decoded[] {
  const decoder = new TelegramDecoder(options);
  return [...decoder.push(input), ...decoder.flush()];
}

/** `p1-gateway parse`: returns the exit code. */
export function runParse(argv: readonly string[], out: (line: string) => void): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      key: { type: "string" },
      aad: { type: "string" },
      repeat: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(PARSE_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new Error("parse takes at most one input file");
  const options: { decryptionKey?: Uint8Array; authenticationKey?: Uint8Array } = {};
  if (values.key !== undefined) options.decryptionKey = parseAesKey("--key", values.key);
  if (values.aad !== undefined) options.authenticationKey = parseAesKey("--aad", values.aad);
  const repeat = values.repeat === undefined ? undefined : parsePositiveInt("--repeat", values.repeat, 1);
  const input = readInput(positionals[0]);

  if (repeat !== undefined) {
    let telegrams = 0;
    let failed = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) {
      for (const d of decodeAll(input, options)) {
        telegrams++;
        if (!d.ok) failed++;
      }
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    out(
      JSON.stringify({
        telegrams,
        failed,
        seconds: Number(seconds.toFixed(6)),
        telegrams_per_s: Math.round(telegrams / seconds),
        mb_per_s: Number(((input.length * repeat) / seconds / 1e6).toFixed(2)),
      }),
    );
    return failed > 0 ? 1 : 0;
  }

  let failed = false;
  for (const d of decodeAll(input, options)) {
    if (!d.ok) failed = true;
    out(JSON.stringify(decodedToJson(d)));
  }
  return failed ? 1 : 0;
}
