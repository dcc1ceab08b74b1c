// `npm run fuzz`: the long fuzz run. P1_FUZZ_RUNS (default 1,000,000) inputs from P1_FUZZ_SEED (default:
// random, printed first so a failure can be replayed). Prints a JSON report with heap samples; run with
// --expose-gc (the npm script does) so the samples are taken after a collection.
import { runFuzz } from "./fuzz.ts";

const runs = Number(process.env.P1_FUZZ_RUNS ?? 1_000_000);
const seed = Number(process.env.P1_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = (): number => {
  gc?.();
  return Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10;
};

process.stderr.write(`fuzz: ${runs} inputs, seed ${seed} (replay with P1_FUZZ_SEED=${seed})\n`);
const started = performance.now();
const heapStartMb = heapMb();
const heapSamplesMb: number[] = [];
const every = Math.max(1, Math.floor(runs / 10));
const report = runFuzz({
  seed,
  runs,
  every,
  onProgress: (done) => {
    heapSamplesMb.push(heapMb());
    process.stderr.write(`fuzz: ${done} inputs, heap ${heapSamplesMb.at(-1)} MB\n`);
  },
});
const result = {
  ...report,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  heapStartMb,
  heapSamplesMb,
  heapEndMb: heapMb(),
  gcExposed: gc !== undefined,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
