/**
 * End-to-end latency: the last byte of a telegram written to a virtual serial port (a pty, as the
 * simulator offers it) → the last state of that telegram received by a gRPC client and by an ESPHome
 * client (so the figure covers the whole telegram).
 *
 * What it measures: t0 is taken just before the simulator's synchronous write of the whole telegram to
 * the pty master; the end is the moment the client library hands the telegram's last decoded state to
 * its listener, so each figure includes that client's decoding (grpc-js + proto-loader;
 * @2colors/esphome-native-api). The gateway publishes only the values a telegram changed (8 of 36 in a
 * simulated DSMR 5.0 telegram, a different set each time), so "last" is found by time: the bench waits
 * for the telegram's first state at both clients, lets the line rest SETTLE_MS, and takes the latest
 * arrival since t0. A state arriving later than that would be missed, so the settle time is far above
 * any latency seen. Each client runs in a worker thread of its own, so neither waits for the other's
 * decoding; the bench's process and its two workers share the machine's cores with the gateway process.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { openVirtualPort } from "../../simulator/index.ts";
import { Simulator } from "../../simulator/simulator.ts";
import type { ClientWorkerData, ClientWorkerMessage } from "./client-worker.ts";
import { ARRIVAL } from "./clients.ts";
import { startGateway, until } from "./gateway-process.ts";
import { below, type Figure, info, percentile, round } from "./report.ts";

/**
 * A gateway runs for days: what it does for every telegram is compiled by V8's optimising tier long
 * before anyone measures. A few dozen telegrams leave much of it in the baseline tiers (p50 ~1 ms more
 * at both clients), so the warm-up sends this many, WARM_UP_INTERVAL_MS apart, to measure the steady
 * state of the gateway and of both clients.
 */
const WARM_UP_TELEGRAMS = 1_000;
const WARM_UP_INTERVAL_MS = 5;
const SAMPLES = 300;
const SETTLE_MS = 25; // after a telegram's first state: the rest of its burst arrives well within this

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bench client in its own worker thread (client-worker.ts), its arrivals in shared memory. */
class ClientThread {
  readonly #worker: Worker;
  readonly #arrivals = new Float64Array(new SharedArrayBuffer(ARRIVAL.length * 8));
  initialized = false;

  constructor(kind: ClientWorkerData["kind"], port: number) {
    const data: ClientWorkerData = { kind, port, arrivals: this.#arrivals.buffer as SharedArrayBuffer };
    this.#worker = new Worker(new URL("./client-worker.mjs", import.meta.url), { workerData: data });
    this.#worker.on("message", (m: ClientWorkerMessage) => {
      if (m.type === "initialized") this.initialized = true;
    });
    this.#worker.on("error", (e) => {
      throw e;
    });
  }

  /** When the client last received a state (bench clock, ms). */
  get lastAt(): number {
    return (this.#arrivals[ARRIVAL.lastAtWallMs] as number) - performance.timeOrigin;
  }

  /** How many states it received. */
  get received(): number {
    return this.#arrivals[ARRIVAL.received] as number;
  }

  close(): void {
    this.#worker.postMessage("close");
  }
}

export async function benchLatency(): Promise<Figure[]> {
  const port = await openVirtualPort(join(tmpdir(), `p1-bench-pty-${process.pid}`));
  const gateway = await startGateway([{ id: "meter", serialPort: port.path }]);
  const sim = new Simulator({ version: "5.0", seed: 3 });
  const grpc = new ClientThread("grpc", gateway.grpcPort);
  let native: ClientThread | undefined;
  try {
    // The gateway opens the port some time after it announced its ports: write until states arrive.
    const deadline = performance.now() + 20_000;
    while (grpc.received === 0) {
      if (performance.now() > deadline) throw new Error("no gRPC state from the gateway");
      await port.write(sim.next().telegram.plaintext);
      await pause(100);
    }
    // The ESPHome client lists entities on connect: connect once the gateway knows them.
    const esphome = new ClientThread("esphome", gateway.apiPort);
    native = esphome;
    await until(() => esphome.initialized, "ESPHome client initialised");
    // Warm up (JIT, connections).
    for (let i = 0; i < WARM_UP_TELEGRAMS; i++) {
      await port.write(sim.next().telegram.plaintext);
      await pause(WARM_UP_INTERVAL_MS);
    }
    await pause(100);
    if (esphome.received === 0) throw new Error("the ESPHome client received no states");
    const grpcMs: number[] = [];
    const nativeMs: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const bytes = sim.next().telegram.plaintext;
      const t0 = performance.now(); // the write below hands every byte to the pty in one call
      await port.write(bytes);
      await until(() => grpc.lastAt > t0 && esphome.lastAt > t0, `telegram ${i} at both clients`, 5_000);
      await pause(SETTLE_MS);
      grpcMs.push(grpc.lastAt - t0);
      nativeMs.push(esphome.lastAt - t0);
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
