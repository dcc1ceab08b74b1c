/**
 * Scale: N meters over TCP into one gateway (N = 1, 100, 1,000, 5,000), each sending one telegram per
 * second, spread evenly over the second. The gateway's CPU (cores busy) and RSS come from /proc; latency
 * is sampled on up to 100 meters, each watched by its own gRPC subscriber filtered to that meter: from the
 * moment the telegram is written to the socket to the last state of that telegram at the subscriber.
 * 100 meters for MEASURE_S seconds give ~1,000 samples, so the p99 is the tenth-highest of them, not (as
 * with 100 samples) the second-highest: one GC pause in either process would set it alone.
 * The warm-up lasts until every sampled meter's first telegram is in (the sampled meters are spread
 * over the fleet, which sends in order; with 5,000 meters creating 180,000 entities takes the gateway
 * seconds), then WARM_UP_S more, so the figures are of the steady state when the gateway reaches one.
 */
import { GrpcSubscriber } from "./clients.ts";
import { startGateway, until } from "./gateway-process.ts";
import { MeterFleet } from "./meters.ts";
import { below, type Figure, info, percentile, round } from "./report.ts";

// P1_BENCH_SCALE=1000,5000 runs only those sizes (to profile one of them).
const SIZES = process.env.P1_BENCH_SCALE
  ? process.env.P1_BENCH_SCALE.split(",").map(Number)
  : [1, 100, 1_000, 5_000];
const WARM_UP_S = 3;
const MEASURE_S = 10;
const SAMPLED = 100;
// Each meter has telegrams prepared for the longest warm-up allowed, so none runs out while measured.
const FIRST_TELEGRAMS_TIMEOUT_S = 30;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scaleOnce(n: number): Promise<Figure[]> {
  const fleet = await MeterFleet.start(n, FIRST_TELEGRAMS_TIMEOUT_S + WARM_UP_S + MEASURE_S + 2);
  const gateway = await startGateway(fleet.sources());
  const sampled = new Map<number, { sentAt: number; lastAt: number }>();
  const latencies: number[] = [];
  let measuring = false;
  const subscribers: GrpcSubscriber[] = [];
  try {
    const progress = (what: string) => process.stderr.write(`[scale ${n}: ${what}] `);
    progress(`started in ${round(gateway.startMs)} ms`);
    await until(() => fleet.connected === n, `gateway connected to ${n} meters`, 60_000);
    progress("connected");
    const step = Math.max(1, Math.floor(n / SAMPLED));
    for (let i = 0; i < n && sampled.size < SAMPLED; i += step) {
      const watch = { sentAt: 0, lastAt: 0 };
      sampled.set(i, watch);
      subscribers.push(
        new GrpcSubscriber(gateway.grpcPort, { source_ids: [`m${i}`] }, (_entity, atMs) => {
          watch.lastAt = atMs;
        }),
      );
    }
    // One telegram's states arrive as a burst; the next telegram of that meter comes a second later.
    const onSent = (meter: number, atMs: number) => {
      const watch = sampled.get(meter);
      if (!watch) return;
      if (measuring && watch.sentAt > 0 && watch.lastAt > watch.sentAt)
        latencies.push(watch.lastAt - watch.sentAt);
      watch.sentAt = atMs;
    };
    fleet.run(1_000, onSent);
    const firstIn = performance.now();
    // A gateway that cannot keep up never gets there: then it is measured as it is, and the detail says so.
    const caughtUp = await until(
      () => [...sampled.values()].every((w) => w.lastAt > 0),
      "every sampled meter's first telegram",
      FIRST_TELEGRAMS_TIMEOUT_S * 1_000,
    ).then(
      () => true,
      () => false,
    );
    progress(
      caughtUp ? `first telegrams in after ${round(performance.now() - firstIn)} ms` : "not caught up",
    );
    await pause(WARM_UP_S * 1_000);
    measuring = true;
    progress("measuring");
    const cpu0 = gateway.cpuSeconds();
    const ownCpu0 = process.cpuUsage();
    const t0 = performance.now();
    let peakRss = 0;
    for (let s = 0; s < MEASURE_S; s++) {
      await pause(1_000);
      peakRss = Math.max(peakRss, gateway.rssMb());
    }
    const seconds = (performance.now() - t0) / 1000;
    const cores = (gateway.cpuSeconds() - cpu0) / seconds;
    // The meters and the sampling clients share this process: when it is busy, figures are its limits.
    const own = process.cpuUsage(ownCpu0);
    const benchCores = (own.user + own.system) / 1e6 / seconds;
    measuring = false;
    fleet.stopSending();
    const name = `scale ${n} meter${n === 1 ? "" : "s"}`;
    const detail = `p50 ${round(percentile(latencies, 50))} ms, max ${round(Math.max(...latencies))} ms, ${latencies.length} samples; meters + clients used ${round(benchCores)} cores${caughtUp ? "" : `; sampled meters not all read within ${FIRST_TELEGRAMS_TIMEOUT_S} s`}`;
    const p99 = round(percentile(latencies, 99));
    if (n < 5_000) {
      return [
        info("scale", `${name}: gateway CPU`, round(cores), "cores"),
        info("scale", `${name}: gateway RSS`, round(peakRss), "MB"),
        info("scale", `${name}: latency p99`, p99, "ms", detail),
      ];
    }
    return [
      below("scale", `${name}: gateway CPU`, round(cores), "cores", 1),
      below("scale", `${name}: gateway RSS`, round(peakRss), "MB", 500),
      below("scale", `${name}: latency p99`, p99, "ms", 10, detail),
    ];
  } finally {
    for (const s of subscribers) s.close();
    await gateway.stop();
    await fleet.close();
  }
}

export async function benchScale(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const n of SIZES) figures.push(...(await scaleOnce(n)));
  return figures;
}
