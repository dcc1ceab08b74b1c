/**
 * End-to-end latency: the last byte of a telegram written to a virtual serial port (a pty, as the
 * simulator offers it) → the state received by a gRPC client and by an ESPHome client, each waiting for
 * the entity the gateway publishes last for a telegram (so the figure covers the whole telegram).
 *
 * What it measures: t0 is taken just before the simulator's synchronous write of the whole telegram to
 * the pty master; the end is the moment the client library hands the decoded state to its listener, so
 * each figure includes that client's decoding (grpc-js + proto-loader; @2colors/esphome-native-api). Each
 * client runs in a worker thread of its own, so neither waits for the other's decoding; the bench's
 * process and its two workers share the machine's cores with the gateway process.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { openVirtualPort } from "../../simulator/index.ts";
import { Simulator } from "../../simulator/simulator.ts";
import type { ClientWorkerData, ClientWorkerMessage } from "./client-worker.ts";
import { startGateway, until } from "./gateway-process.ts";
import { below, type Figure, info, percentile, round } from "./report.ts";

const WARM_UP_TELEGRAMS = 30;
const SAMPLES = 300;
const GAP_MS = 5; // between one telegram's last state and the next write: a quiet line, as between telegrams

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Last entity that got a state in each telegram's burst, as the clients observed it. */
class Recorder {
  last: string | null = null;
  lastAt = 0;
  readonly onState = (entity: string, atMs: number) => {
    this.last = entity;
    this.lastAt = atMs;
  };
  /** Time the target entity was last received, or 0. */
  readonly seen = new Map<string, number>();
  readonly track = (entity: string, atMs: number) => {
    this.onState(entity, atMs);
    this.seen.set(entity, atMs);
  };
}

/** A bench client in its own worker thread (client-worker.ts); states arrive as wall-clock times. */
class ClientThread {
  readonly #worker: Worker;
  initialized = false;

  constructor(data: ClientWorkerData, onState: (entity: string, atMs: number) => void) {
    this.#worker = new Worker(new URL("./client-worker.mjs", import.meta.url), { workerData: data });
    this.#worker.on("message", (m: ClientWorkerMessage) => {
      if (m.type === "initialized") this.initialized = true;
      else onState(m.entity, m.atWallMs - performance.timeOrigin);
    });
    this.#worker.on("error", (e) => {
      throw e;
    });
  }

  close(): void {
    this.#worker.postMessage("close");
  }
}

export async function benchLatency(): Promise<Figure[]> {
  const port = await openVirtualPort(join(tmpdir(), `p1-bench-pty-${process.pid}`));
  const gateway = await startGateway([{ id: "meter", serialPort: port.path }]);
  const sim = new Simulator({ version: "5.0", seed: 3 });
  const grpcSeen = new Recorder();
  const nativeSeen = new Recorder();
  const grpc = new ClientThread({ kind: "grpc", port: gateway.grpcPort }, grpcSeen.track);
  let native: ClientThread | undefined;
  try {
    // The gateway opens the port some time after it announced its ports: write until states arrive.
    const deadline = performance.now() + 20_000;
    while (grpcSeen.last === null) {
      if (performance.now() > deadline) throw new Error("no gRPC state from the gateway");
      await port.write(sim.next().telegram.plaintext);
      await pause(100);
    }
    // The ESPHome client lists entities on connect: connect once the gateway knows them.
    native = new ClientThread({ kind: "esphome", port: gateway.apiPort }, nativeSeen.track);
    await until(() => native?.initialized === true, "ESPHome client initialised");
    // Warm up (JIT, connections), then learn which entity comes last in a telegram for each client.
    for (let i = 0; i < WARM_UP_TELEGRAMS; i++) {
      await port.write(sim.next().telegram.plaintext);
      await pause(20);
    }
    await pause(100);
    const grpcTarget = grpcSeen.last;
    const nativeTarget = nativeSeen.last;
    if (grpcTarget === null || nativeTarget === null) throw new Error("clients received no states");
    const grpcMs: number[] = [];
    const nativeMs: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const bytes = sim.next().telegram.plaintext;
      const t0 = performance.now(); // the write below hands every byte to the pty in one call
      await port.write(bytes);
      await until(
        () => (grpcSeen.seen.get(grpcTarget) ?? 0) > t0 && (nativeSeen.seen.get(nativeTarget) ?? 0) > t0,
        `telegram ${i} at both clients`,
        5_000,
      );
      grpcMs.push((grpcSeen.seen.get(grpcTarget) as number) - t0);
      nativeMs.push((nativeSeen.seen.get(nativeTarget) as number) - t0);
      await pause(GAP_MS);
    }
    const detail = (ms: number[]) =>
      `p50 ${round(percentile(ms, 50))} ms, max ${round(Math.max(...ms))} ms, ${ms.length} telegrams`;
    return [
      below(
        "latency",
        "latency pty → gRPC client, p99",
        round(percentile(grpcMs, 99)),
        "ms",
        2,
        detail(grpcMs),
      ),
      below(
        "latency",
        "latency pty → ESPHome client, p99",
        round(percentile(nativeMs, 99)),
        "ms",
        2,
        detail(nativeMs),
      ),
      info("latency", "latency pty → gRPC client, p50", round(percentile(grpcMs, 50)), "ms"),
      info("latency", "latency pty → ESPHome client, p50", round(percentile(nativeMs, 50)), "ms"),
    ];
  } finally {
    grpc.close();
    native?.close();
    await gateway.stop();
    await port.close();
  }
}
