/**
 * Idle footprint and start-up: the gateway with one meter at 1 telegram/s, its RSS once it settled,
 * and the wall time from spawning `p1-gateway serve` to the first answered gRPC call (serving).
 * Settled: a gateway runs for months, so the figure is the highest RSS sampled each second from 20 to
 * 30 s after start, when start-up's garbage has been collected (RSS 5 s after start, ~10 MB higher
 * while the first full GC has not run yet, is reported beside it).
 */
import { fileURLToPath } from "node:url";
import { isFresh } from "../../src/cli/build-manifest.mjs";
import { GatewayTestClient } from "../helpers/grpc-client.ts";
import { startGateway } from "./gateway-process.ts";
import { MeterFleet } from "./meters.ts";
import { below, type Figure, info, percentile, round } from "./report.ts";

const STARTS = 3;
const EARLY_S = 5;
const SETTLED_FROM_S = 20;
const SETTLED_TO_S = 30;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the launcher runs, by its own rule: the build while it matches src/, else the sources via tsx. */
function launchedFrom(): string {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  return isFresh(root, `${root}/dist/manifest.json`)
    ? "gateway ran from the build (dist/)"
    : "gateway ran from the sources through tsx (no build, or one older than src/: node src/cli/build.mjs)";
}

/** Spawn → first GetInfo answered (ms); also returns the time to the ports being announced. */
async function timeToServing(
  fleet: MeterFleet,
): Promise<{ announcedMs: number; servingMs: number; cpuMs: number }> {
  const started = performance.now();
  const gateway = await startGateway(fleet.sources());
  const client = new GatewayTestClient(`127.0.0.1:${gateway.grpcPort}`);
  try {
    await client.getInfo();
    const servingMs = performance.now() - started;
    // CPU time to serving: what start-up costs on a quiet machine, where wall time is noisy.
    return { announcedMs: gateway.startMs, servingMs, cpuMs: gateway.cpuSeconds() * 1000 };
  } finally {
    client.close();
    await gateway.stop();
  }
}

export async function benchIdle(): Promise<Figure[]> {
  const from = launchedFrom();
  const fleet = await MeterFleet.start(1, SETTLED_TO_S + 2);
  try {
    const starts: { announcedMs: number; servingMs: number; cpuMs: number }[] = [];
    for (let i = 0; i < STARTS; i++) starts.push(await timeToServing(fleet));
    const serving = starts.map((s) => s.servingMs);
    const gateway = await startGateway(fleet.sources());
    try {
      fleet.run(1_000);
      let early = 0;
      let settled = 0;
      for (let s = 1; s <= SETTLED_TO_S; s++) {
        await pause(1_000);
        if (s === EARLY_S) early = gateway.rssMb();
        if (s >= SETTLED_FROM_S) settled = Math.max(settled, gateway.rssMb());
      }
      const cpu = gateway.cpuSeconds();
      return [
        below(
          "idle",
          "idle RSS, one meter at 1 telegram/s, settled",
          round(settled),
          "MB",
          80,
          `highest from ${SETTLED_FROM_S} to ${SETTLED_TO_S} s after start; ${from}`,
        ),
        info("idle", `idle RSS ${EARLY_S} s after start`, round(early), "MB"),
        below(
          "idle",
          "start → serving (gRPC answered), median",
          round(percentile(serving, 50)),
          "ms",
          1_000,
          `runs ${serving.map((s) => round(s)).join(", ")} ms; ports announced after ${starts.map((s) => round(s.announcedMs)).join(", ")} ms`,
        ),
        info(
          "idle",
          "start → serving: gateway CPU time, median",
          round(
            percentile(
              starts.map((s) => s.cpuMs),
              50,
            ),
          ),
          "ms",
        ),
        info("idle", "gateway CPU time after settling (incl. start-up)", round(cpu), "s"),
      ];
    } finally {
      await gateway.stop();
    }
  } finally {
    await fleet.close();
  }
}
