/**
 * `npm run bench`: protocol-engine throughput on one core. Prints a table and, last, one JSON line.
 * Not part of `npm test`: timing belongs in benchmarks, never in assertions.
 */
import { cpus } from "node:os";
import { parseTelegram } from "../../src/dsmr/index.ts";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { encryptFrame } from "../../src/smarty/index.ts";
import { fixture } from "../helpers/fixtures.ts";

interface Figure {
  readonly name: string;
  readonly unitsPerS: number;
  readonly mbPerS: number;
  readonly target: number | null;
}

/** Runs `fn` (which processes `units` units of `bytes` bytes) for about `seconds`, after a warm-up. */
function measure(
  name: string,
  units: number,
  bytes: number,
  target: number | null,
  fn: () => void,
  seconds = 2,
): Figure {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) fn();
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    rounds++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < seconds);
  return {
    name,
    unitsPerS: Math.round((units * rounds) / elapsed),
    mbPerS: Number(((bytes * rounds) / elapsed / 1e6).toFixed(1)),
    target,
  };
}

const t50 = fixture("dsmr50.txt"); // DSMR 5.0, 3 phases, gas and water on M-Bus
const BATCH = 1000;
const stream = Buffer.concat(Array.from({ length: BATCH }, () => t50));
const key = Buffer.from("000102030405060708090A0B0C0D0E0F", "hex");
const smarty = fixture("smarty.txt");
const frames = Buffer.concat(
  Array.from({ length: BATCH }, (_, i) =>
    encryptFrame(smarty, Buffer.from("4C55580000000001", "hex"), i + 1, { key }),
  ),
);

/** Feeds a stream in 4 KiB reads, as a serial port or socket delivers it, and counts what comes out. */
function feed(decoder: TelegramDecoder, bytes: Buffer, check: (ok: boolean) => void): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i += 4096) {
    for (const r of decoder.push(bytes.subarray(i, i + 4096))) {
      check(r.ok);
      n++;
    }
  }
  return n;
}
const mustBeOk = (ok: boolean) => {
  if (!ok) throw new Error("bench input failed to decode");
};

const figures: Figure[] = [
  measure("parse only, DSMR 5.0 + gas, CRC on", BATCH, stream.length, 200_000, () => {
    for (let i = 0; i < BATCH; i++) if (!parseTelegram(t50).ok) throw new Error("bench telegram invalid");
  }),
  measure("stream (4 KiB reads): framer + parser, DSMR 5.0", BATCH, stream.length, 200_000, () => {
    if (feed(new TelegramDecoder(), stream, mustBeOk) !== BATCH) throw new Error("lost telegrams");
  }),
  measure("stream (4 KiB reads): framer + decrypt + parser, Smarty", BATCH, frames.length, 100_000, () => {
    if (feed(new TelegramDecoder({ decryptionKey: key }), frames, mustBeOk) !== BATCH)
      throw new Error("lost frames");
  }),
];

const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, node: process.version };
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}\n`);
console.log(
  `${"figure".padEnd(46)} ${"per s".padStart(10)} ${"MB/s".padStart(7)} ${"target".padStart(9)}  met`,
);
for (const f of figures) {
  const met = f.target === null ? "" : f.unitsPerS >= f.target ? "yes" : "NO";
  console.log(
    `${f.name.padEnd(46)} ${String(f.unitsPerS).padStart(10)} ${String(f.mbPerS).padStart(7)} ${String(f.target ?? "").padStart(9)}  ${met}`,
  );
}
console.log(JSON.stringify({ date: new Date().toISOString(), machine, figures }));
