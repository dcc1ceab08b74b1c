/**
 * One bench client in a worker thread of its own, so that two clients timed together do not wait for
 * each other's decoding on one event loop (the gRPC client's states used to be timed only after the
 * ESPHome client had decoded its batch). Arrival times are wall-clock (`timeOrigin + now()`, shared by
 * all threads); the parent subtracts its own timeOrigin.
 */
import { parentPort, workerData } from "node:worker_threads";
import { EsphomeSubscriber, GrpcSubscriber } from "./clients.ts";

/** What the parent asks for: which client, on which gateway port. */
export interface ClientWorkerData {
  readonly kind: "grpc" | "esphome";
  readonly port: number;
}

/** Messages to the parent: a state's entity and wall-clock arrival (ms), or the ESPHome client ready. */
export type ClientWorkerMessage =
  | { readonly type: "state"; readonly entity: string; readonly atWallMs: number }
  | { readonly type: "initialized" };

const { kind, port } = workerData as ClientWorkerData;
const post = (m: ClientWorkerMessage) => parentPort?.postMessage(m);
const onState = (entity: string, atMs: number) =>
  post({ type: "state", entity, atWallMs: performance.timeOrigin + atMs });
const client = kind === "grpc" ? new GrpcSubscriber(port, {}, onState) : new EsphomeSubscriber(port, onState);
if (client instanceof EsphomeSubscriber) {
  const poll = setInterval(() => {
    if (!client.initialized) return;
    clearInterval(poll);
    post({ type: "initialized" });
  }, 10);
}
parentPort?.on("message", (m: unknown) => {
  if (m === "close") {
    client.close();
    parentPort?.close();
  }
});
