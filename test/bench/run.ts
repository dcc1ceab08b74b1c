/**
 * `npm run bench [-- NAME...]`: throughput, latency, fan-out, scale and memory against the targets of
 * issue 8. Prints a table and, last, one JSON line; also writes the JSON to test/bench/results/.
 * NAMEs: parse, smarty, latency, fanout, scale, idle (default all). Not part of `npm test`: timing
 * belongs in benchmarks, never in assertions.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchFanout } from "./fanout.ts";
import { benchIdle } from "./idle.ts";
import { benchLatency } from "./latency.ts";
import { type Figure, formatTable, machine } from "./report.ts";
import { benchScale } from "./scale.ts";
import { benchParse, benchSmarty } from "./throughput.ts";

const BENCHES: Readonly<Record<string, () => Figure[] | Promise<Figure[]>>> = {
  parse: benchParse,
  smarty: benchSmarty,
  latency: benchLatency,
  fanout: benchFanout,
  scale: benchScale,
  idle: benchIdle,
};

const asked = process.argv.slice(2).filter((a) => a !== "--");
const unknown = asked.filter((a) => !(a in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(", ")}; choose from ${Object.keys(BENCHES).join(", ")}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(BENCHES);
const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node} (${m.platform})`);

const figures: Figure[] = [];
for (const name of names) {
  const started = performance.now();
  process.stdout.write(`running ${name}… `);
  const bench = BENCHES[name] as () => Figure[] | Promise<Figure[]>;
  figures.push(...(await bench()));
  console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
}
console.log(`\n${formatTable(figures)}\n`);
const result = { date: new Date().toISOString(), machine: m, figures };
const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}${result.date.replace(/[:.]/g, "-")}.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
