// `npm run soak`: P1_SOAK_HOURS (default 24) simulated hours of the soak in soak.ts. Prints a sample
// per churn cycle to stderr and the report as JSON; run with --expose-gc (the npm script does) so heap
// samples are taken after a collection.
import { runSoak } from "./soak.ts";

const hours = Number(process.env.P1_SOAK_HOURS ?? 24);
const started = performance.now();
const report = await runSoak(hours, (s) => {
  if (Math.round(s.hour * 12) % 12 === 0)
    process.stderr.write(`soak: hour ${s.hour}, heap ${s.heapMb} MB, ${JSON.stringify(s.resources)}\n`);
});
const heap = report.samples.map((s) => s.heapMb);
const result = {
  ...report,
  samples: undefined,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  heapMinMb: Math.min(...heap),
  heapMaxMb: Math.max(...heap),
  // One sample per simulated hour (samples are taken every five minutes).
  heapByHourMb: report.samples
    .filter((s) => Math.abs(s.hour - Math.round(s.hour)) < 0.05)
    .map((s) => [s.hour, s.heapMb]),
  gcExposed: (globalThis as { gc?: () => void }).gc !== undefined,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
