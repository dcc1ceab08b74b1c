/**
 * Protocol-engine throughput on one core: the parser alone, framer + parser on a stream, and framer +
 * decryption + parser for Smarty. Inputs are distinct simulator telegrams (values and timestamps change
 * from one to the next as on a real line), so no per-value memo sees the same text twice in a row. The
 * parser reuses the lines a telegram repeats verbatim from the one before; like a real meter at 1 Hz the
 * simulator changes about 8 of the 36 DSMR 5.0 lines per telegram (timestamp, power, voltages), so the
 * figures hold for that mix. One TelegramDecoder per stream round: a fresh one measured the same as one
 * reused across rounds (the decoder has no warm-up to speak of). The code measured is the one the
 * gateway runs: bundled by esbuild as the build bundles it (see engine.ts), not the sources through tsx.
 */

import { constants, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Simulator } from "../../simulator/simulator.ts";
import { bundle } from "../../src/cli/build.mjs";
import { atLeast, type Figure, info } from "./report.ts";

/** The protocol engine as measured: test/bench/engine.ts's exports. */
type Engine = typeof import("./engine.ts");
type TelegramDecoder = InstanceType<Engine["TelegramDecoder"]>;

/** Where the engine's bundle is written: inside the project, so it finds node_modules. */
const ENGINE_BUNDLE = fileURLToPath(
  new URL("../../node_modules/.cache/p1-gateway-bench/engine.mjs", import.meta.url),
);
let engineLoad: Promise<Engine> | undefined;

/** test/bench/engine.ts bundled as the gateway is (see there), built once per bench run. */
function engine(): Promise<Engine> {
  engineLoad ??= bundle("test/bench/engine.ts", ENGINE_BUNDLE).then(
    () => import(pathToFileURL(ENGINE_BUNDLE).href) as Promise<Engine>,
  );
  return engineLoad;
}

const DISTINCT = 1000;
const KEY = Buffer.from("000102030405060708090A0B0C0D0E0F", "hex");
const RUN_MS = 2_000;
const WARM_UP_MS = 500;
/** The run is measured in slices this long too: how much the rate moves within one run (see rate). */
const SLICE_MS = 250;

interface Rate {
  /** Units per CPU-second of this process over the whole run. */
  readonly perCpuS: number;
  readonly perWallS: number;
  /** Per CPU-second in each SLICE_MS of the run, ascending. */
  readonly slices: readonly number[];
}

/**
 * Runs `round` (which processes `units` units) for about RUN_MS after a warm-up. Returns units per
 * CPU-second of this process (what one core does, even when other processes share the machine) and
 * per wall-clock second, and the rate of each SLICE_MS: on a shared VM the same code moves between
 * phases within seconds, and the slices show it in every run.
 */
function rate(units: number, round: () => void): Rate {
  const warmUntil = performance.now() + WARM_UP_MS;
  while (performance.now() < warmUntil) round();
  let rounds = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const slices: number[] = [];
  let sliceRounds = 0;
  let sliceStart = start;
  let sliceCpu = cpu0;
  let elapsed = 0;
  do {
    round();
    rounds++;
    sliceRounds++;
    const now = performance.now();
    elapsed = now - start;
    if (now - sliceStart >= SLICE_MS) {
      const cpu = process.cpuUsage(sliceCpu);
      slices.push(Math.round((units * sliceRounds * 1e6) / (cpu.user + cpu.system)));
      sliceRounds = 0;
      sliceStart = now;
      sliceCpu = process.cpuUsage();
    }
  } while (elapsed < RUN_MS);
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    perCpuS: Math.round((units * rounds * 1000) / cpuMs),
    perWallS: Math.round((units * rounds * 1000) / elapsed),
    slices: slices.sort((a, b) => a - b),
  };
}

/** The slices' spread for a row's detail, in thousands: "250 ms slices 131k-176k (median 150k)". */
function spread(r: Rate): string {
  const k = (n: number | undefined) => (n === undefined ? "-" : `${Math.round(n / 1000)}k`);
  const s = r.slices;
  return `${SLICE_MS} ms slices ${k(s[0])}-${k(s[s.length - 1])} (median ${k(s[s.length >> 1])})`;
}

function telegrams(options: ConstructorParameters<typeof Simulator>[0]): Buffer[] {
  const sim = new Simulator(options);
  return Array.from({ length: DISTINCT }, () => {
    const { telegram } = sim.next();
    return telegram.frame ?? telegram.plaintext;
  });
}

/** Feeds a stream in 4 KiB reads, as a serial port or socket delivers it; returns the telegrams decoded. */
function feed(decoder: TelegramDecoder, stream: Buffer): number {
  let n = 0;
  for (let i = 0; i < stream.length; i += 4096) {
    for (const r of decoder.push(stream.subarray(i, i + 4096))) {
      if (!r.ok) throw new Error(`bench input failed to decode: ${r.error.code} ${r.error.message}`);
      n++;
    }
  }
  return n;
}

const STREAMS = 3_000;
const ROUNDS = 20;
const SETTLE_ROUNDS = 6;

/** STREAMS simulated DSMR 5.0 meters, ROUNDS telegrams each (seeds from `seed`). */
function meterStreams(seed: number): Buffer[][] {
  return Array.from({ length: STREAMS }, (_, i) => {
    const sim = new Simulator({ version: "5.0", seed: seed + i });
    return Array.from({ length: ROUNDS }, () => sim.next().telegram.plaintext);
  });
}

/** Bytes in use in the old generation (with `largeObjects`, its large-object space too). */
function oldGenerationBytes(largeObjects: boolean): number {
  return getHeapSpaceStatistics()
    .filter((s) => s.space_name === "old_space" || (largeObjects && s.space_name === "large_object_space"))
    .reduce((n, s) => n + s.space_used_size, 0);
}

/** The median of per-telegram figures, rounded, and how many rounds it is of. */
function medianOf(perTelegram: number[]): { bytes: number; rounds: number } {
  const sorted = [...perTelegram].sort((a, b) => a - b);
  return { bytes: Math.round(sorted[sorted.length >> 1] ?? Number.NaN), rounds: sorted.length };
}

/**
 * What parsing leaves to the old generation: STREAMS meters, one telegram each per round, each stream
 * with its own memory, so a telegram's objects live until that meter's next one, after all the others'
 * (the second of a real gateway, where what lives that long is promoted and left to full GCs). The
 * old space's growth per telegram over a round, median of the rounds without a full GC, default GC
 * flags. Also catches V8 allocating per-telegram objects straight in the old generation (pretenuring).
 */
async function oldGenerationPerTelegram({ ParseMemory, parseTelegram }: Engine): Promise<{
  bytes: number;
  rounds: number;
}> {
  const streams = meterStreams(1_000);
  const memories = streams.map(() => new ParseMemory());
  let fullGcs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        fullGcs++;
  });
  observer.observe({ entryTypes: ["gc"] });
  const oldSpace = () => oldGenerationBytes(false);
  const perTelegram: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const gcs = fullGcs;
    const before = oldSpace();
    streams.forEach((telegrams, i) => {
      if (!parseTelegram(telegrams[r] as Buffer, memories[i]).ok) throw new Error("bench telegram invalid");
    });
    await new Promise((resolve) => setImmediate(resolve)); // the observer reports GCs asynchronously
    if (r >= SETTLE_ROUNDS && fullGcs === gcs) perTelegram.push((oldSpace() - before) / STREAMS);
  }
  observer.disconnect();
  return medianOf(perTelegram);
}

/** V8's gc(), for the bench only: `gc({ type: "minor" })` runs one young-generation collection. */
function exposedGc(): (options: { type: "minor" | "major" }) => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as (options: { type: "minor" | "major" }) => void;
}

/**
 * What a telegram leaves alive for the young-generation collections of a gateway with thousands of
 * meters: STREAMS meters, one telegram each per round through a TelegramDecoder of its own and one
 * EntityStore, as the gateway reads them; after each round two scavenges promote whatever is still
 * alive. What a telegram leaves until its meter's next one, a second later at 1 Hz, each scavenge in
 * between copies (5,000 meters: ~1,500 telegrams between two), so this sets the scavenges' pauses. The
 * old generation's growth per telegram over a round, median of the rounds after SETTLE_ROUNDS.
 */
function aliveAtNextTelegram({ EntityStore, EVERY_TELEGRAM, TelegramDecoder }: Engine): {
  bytes: number;
  rounds: number;
} {
  const gc = exposedGc();
  const streams = meterStreams(2_000);
  const decoders = streams.map(() => new TelegramDecoder());
  const store = new EntityStore();
  const promoted = () => oldGenerationBytes(true);
  const collect = () => {
    gc({ type: "minor" });
    gc({ type: "minor" });
  };
  const perTelegram: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    collect();
    const before = promoted();
    streams.forEach((telegrams, i) => {
      for (const d of (decoders[i] as TelegramDecoder).push(telegrams[r] as Buffer)) {
        if (!d.ok) throw new Error(`bench telegram invalid: ${d.error.code}`);
        store.ingest(`m${i}`, d.telegram, 1_000 * r, () => EVERY_TELEGRAM);
      }
    });
    collect();
    if (r >= SETTLE_ROUNDS) perTelegram.push((promoted() - before) / STREAMS);
  }
  return medianOf(perTelegram);
}

/** Parse only. */
export async function benchParse(): Promise<Figure[]> {
  const measured = await engine();
  const { parseTelegram, TelegramDecoder } = measured;
  const dsmr = telegrams({ version: "5.0", seed: 5 }); // 3 phases, gas on M-Bus channel 1, CRC
  const bytes = dsmr.reduce((n, t) => n + t.length, 0) / dsmr.length;
  const parse = rate(dsmr.length, () => {
    for (const t of dsmr) if (!parseTelegram(t).ok) throw new Error("bench telegram invalid");
  });
  const stream = Buffer.concat(dsmr);
  const streamed = rate(dsmr.length, () => {
    if (feed(new TelegramDecoder(), stream) !== dsmr.length) throw new Error("lost telegrams");
  });
  const detail = (r: Rate) =>
    `${((r.perCpuS * bytes) / 1e6).toFixed(0)} MB/s; ${r.perWallS}/s by wall clock; ${spread(r)}`;
  const old = await oldGenerationPerTelegram(measured);
  const alive = aliveAtNextTelegram(measured);
  return [
    atLeast("parse", "parse, DSMR 5.0 + gas, CRC on", parse.perCpuS, "telegrams/s", 200_000, detail(parse)),
    atLeast(
      "parse",
      "stream 4 KiB reads: framer + parser",
      streamed.perCpuS,
      "telegrams/s",
      200_000,
      detail(streamed),
    ),
    info(
      "parse",
      `parse, ${STREAMS} streams: into the old generation`,
      old.bytes,
      "B/telegram",
      `old-space growth per telegram, median of ${old.rounds} rounds without a full GC`,
    ),
    info(
      "parse",
      `decoder + store, ${STREAMS} streams: alive at the meter's next telegram`,
      alive.bytes,
      "B/telegram",
      `promoted by two scavenges after each round, median of ${alive.rounds} rounds`,
    ),
  ];
}

/** Decrypt + parse. */
export async function benchSmarty(): Promise<Figure[]> {
  const { gcmImplementation, TelegramDecoder } = await engine();
  const frames = telegrams({ version: "smarty", seed: 5, key: KEY });
  const stream = Buffer.concat(frames);
  const r = rate(frames.length, () => {
    if (feed(new TelegramDecoder({ decryptionKey: KEY }), stream) !== frames.length)
      throw new Error("lost frames");
  });
  const gcm = gcmImplementation();
  const detail = `${((r.perCpuS * stream.length) / frames.length / 1e6).toFixed(0)} MB/s; ${r.perWallS}/s by wall clock; ${spread(r)}; AES-GCM: ${gcm.implementation}${gcm.reason ? ` (addon ${gcm.reason})` : ""}`;
  return [
    atLeast("smarty", "stream: framer + decrypt + parser, Smarty", r.perCpuS, "frames/s", 100_000, detail),
  ];
}
