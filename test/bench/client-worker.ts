/**
 * One bench client in a worker thread of its own, so that two clients timed together do not wait for
 * each other's decoding on one event loop (the gRPC client's states used to be timed only after the
 * ESPHome client had decoded its batch). Arrivals are written to memory shared with the parent, not
 * posted: a message per state woke the parent's thread some sixteen times a telegram, on the cores the
 * gateway and the clients were being timed on. Times are wall-clock (`timeOrigin + now()`, shared by
 * all threads); the parent subtracts its own timeOrigin.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ARRIVAL, EsphomeSubscriber, GrpcSubscriber } from "./clients.ts";

/** What the parent asks for: which client, on which gateway port, and the memory for its arrivals. */
export interface ClientWorkerData {
  readonly kind: "grpc" | "esphome";
  readonly port: number;
  /** A SharedArrayBuffer of ARRIVAL.length doubles; only this worker writes it. */
  readonly arrivals: SharedArrayBuffer;
}

/** Messages to the parent: the ESPHome client ready. */
export type ClientWorkerMessage = { readonly type: "initialized" };

const { kind, port, arrivals } = workerData as ClientWorkerData;
// One writer, aligned doubles: an x64 load or store of one is never torn, so the parent reads either
// the value before or after.
const shared = new Float64Array(arrivals);
const onState = (_entity: string, atMs: number) => {
  shared[ARRIVAL.received] = (shared[ARRIVAL.received] as number) + 1;
  shared[ARRIVAL.lastAtWallMs] = Math.max(
    shared[ARRIVAL.lastAtWallMs] as number,
    performance.timeOrigin + atMs,
  );
};
const client = kind === "grpc" ? new GrpcSubscriber(port, {}, onState) : new EsphomeSubscriber(port, onState);
if (client instanceof EsphomeSubscriber) {
  const poll = setInterval(() => {
    if (!client.initialized) return;
    clearInterval(poll);
    parentPort?.postMessage({ type: "initialized" } satisfies ClientWorkerMessage);
  }, 10);
}
parentPort?.on("message", (m: unknown) => {
  if (m === "close") {
    client.close();
    parentPort?.close();
  }
});
