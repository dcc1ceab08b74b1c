/**
 * Fan-out: one meter at 1 telegram/s, served to 1, 100 and 1,000 gRPC subscribers (StreamStates, every
 * entity, each on its own connection) and to 50 ESPHome clients. Every client reads as fast as it can,
 * so none may miss an update; the gateway's RSS is read while they are all connected.
 */
import { EsphomeSubscriber, GrpcSubscriber } from "./clients.ts";
import { startGateway, until } from "./gateway-process.ts";
import { MeterFleet } from "./meters.ts";
import { below, type Figure, info, percentile, round } from "./report.ts";

const UPDATES = 5; // telegrams per step, 1 s apart
const PERIOD_MS = 1_000;
const ALL_STEPS: readonly Step[] = [
  { kind: "grpc", clients: 1 },
  { kind: "grpc", clients: 100 },
  { kind: "grpc", clients: 1_000 },
  { kind: "native", clients: 50 },
];
interface Step {
  readonly kind: "grpc" | "native";
  readonly clients: number;
}
// P1_BENCH_FANOUT=grpc:1000,native:50 runs only those steps (to profile one of them).
const STEPS: readonly Step[] = process.env.P1_BENCH_FANOUT
  ? process.env.P1_BENCH_FANOUT.split(",").map((x) => {
      const [kind, clients] = x.split(":");
      return { kind: kind === "native" ? "native" : "grpc", clients: Number(clients) };
    })
  : ALL_STEPS;

// The telegram's timestamp (0-0:1.0.0): the one value that changes with every telegram, so the one entity
// the gateway publishes for each (it publishes values that changed; even the power can repeat).
const WATCHED = "_p1_timestamp";

// How long after the last update a client may still receive it before it counts as lost.
const LATE_MS = 30_000;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchFanout(): Promise<Figure[]> {
  const fleet = await MeterFleet.start(1, 2 + STEPS.length * UPDATES);
  const gateway = await startGateway(fleet.sources());
  const figures: Figure[] = [];
  try {
    await until(() => fleet.connected === 1, "gateway connected to the meter");
    fleet.send(0); // the gateway knows its entities and states before clients arrive
    await pause(200);
    for (const step of STEPS) {
      // Per client: how often the timestamp entity (new in every telegram) arrived since the step's updates began,
      // and how long after its telegram was sent each arrival came.
      const counts: number[] = [];
      const sentAt: number[] = [];
      const delays: number[] = [];
      let counting = false;
      const onState = (i: number) => (entity: string, atMs: number) => {
        if (!counting || !entity.endsWith(WATCHED)) return;
        const k = counts[i] ?? 0;
        counts[i] = k + 1;
        const sent = sentAt[k];
        if (sent !== undefined) delays.push(atMs - sent);
      };
      const clients: { received: number; close(): void }[] = [];
      for (let i = 0; i < step.clients; i++) {
        counts.push(0);
        clients.push(
          step.kind === "grpc"
            ? new GrpcSubscriber(gateway.grpcPort, {}, onState(i))
            : new EsphomeSubscriber(gateway.apiPort, onState(i)),
        );
      }
      await until(
        () => clients.every((c) => c.received > 0),
        `${step.clients} ${step.kind} snapshots`,
        60_000,
      );
      await pause(300); // snapshots complete
      const cpu0 = gateway.cpuSeconds();
      const ownCpu0 = process.cpuUsage();
      const t0 = performance.now();
      counting = true;
      let peakRss = gateway.rssMb();
      for (let u = 0; u < UPDATES; u++) {
        sentAt.push(performance.now());
        fleet.send(0);
        await pause(PERIOD_MS);
        peakRss = Math.max(peakRss, gateway.rssMb());
      }
      const cores = (gateway.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
      const own = process.cpuUsage(ownCpu0);
      // Late is not lost: wait (bounded) for the stragglers; what is still missing then counts as lost.
      await until(() => counts.every((c) => c >= UPDATES), "every update at every client", LATE_MS).catch(
        () => {},
      );
      const clientCores = (own.user + own.system) / 1e6 / ((performance.now() - t0) / 1000);
      counting = false;
      const lost = counts.reduce((sum, c) => sum + Math.max(0, UPDATES - c), 0);
      const name = `fan-out ${step.clients} ${step.kind === "grpc" ? "gRPC subscribers" : "ESPHome clients"}`;
      const detail = `lost ${lost} of ${UPDATES * step.clients}; delay p50 ${round(percentile(delays, 50))} ms, max ${round(Math.max(...delays))} ms; gateway CPU ${round(cores * 100)} %, clients' CPU ${round(clientCores * 100)} %`;
      figures.push(
        below("fanout", `${name}: updates lost`, lost, "updates", 1, detail),
        info("fanout", `${name}: update delay p99`, round(percentile(delays, 99)), "ms"),
        below("fanout", `${name}: gateway RSS`, round(peakRss), "MB", 200),
      );
      for (const c of clients) c.close();
      await pause(500);
    }
    return figures;
  } finally {
    await gateway.stop();
    await fleet.close();
  }
}
