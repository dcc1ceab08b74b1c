/**
 * The clients the benches measure with: a grpc-js client of StreamStates (the test helper's, which loads
 * the .proto as a third-party client would) and the third-party ESPHome client Home Assistant's
 * ecosystem uses. Both call `onState` with the arrival time of every state message.
 */
import { createRequire } from "node:module";
import type { ClientReadableStream } from "@grpc/grpc-js";
import {
  type EntityStateMsg,
  GatewayTestClient,
  type StreamStatesRequestMsg,
} from "../helpers/grpc-client.ts";

/** Where a client in a worker thread keeps its arrivals, in a Float64Array shared with the parent. */
export const ARRIVAL = { lastAtWallMs: 0, received: 1, length: 2 } as const;

/** One state as a client received it: which entity, when (performance.now()). */
export type OnState = (entity: string, atMs: number) => void;

/** A StreamStates subscriber with its own HTTP/2 connection (as a separate client would have). */
export class GrpcSubscriber {
  readonly #client: GatewayTestClient;
  readonly #call: ClientReadableStream<EntityStateMsg>;
  received = 0;
  errors = 0;

  constructor(port: number, request: StreamStatesRequestMsg, onState: OnState) {
    this.#client = new GatewayTestClient(`127.0.0.1:${port}`);
    this.#call = this.#client.streamStates(request);
    this.#call.on("data", (s: EntityStateMsg) => {
      this.received++;
      onState(s.entity_id, performance.now());
    });
    // Cancelling at the end is expected; anything else is counted and shows up as lost updates.
    this.#call.on("error", () => {
      this.errors++;
    });
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

// The third-party client is CommonJS without typings; this is the part of it the benches use.
interface EsphomeConnection {
  on(event: string, cb: (message: { key: number }) => void): void;
}
interface EsphomeClient {
  readonly connection: EsphomeConnection;
  connect(): void;
  disconnect(): void;
  on(event: "initialized", cb: () => void): void;
  on(event: "newEntity", cb: (entity: { readonly config: { key: number; objectId: string } }) => void): void;
  on(event: "error", cb: (e: Error) => void): void;
}
type ClientCtor = new (options: Record<string, unknown>) => EsphomeClient;
const require = createRequire(import.meta.url);
const { Client } = require("@2colors/esphome-native-api") as { Client: ClientCtor };
const STATE_MESSAGES = ["SensorStateResponse", "TextSensorStateResponse", "BinarySensorStateResponse"];

/** A @2colors/esphome-native-api client: hello, device info, entity list, then states. */
export class EsphomeSubscriber {
  readonly #client: EsphomeClient;
  initialized = false;
  received = 0;
  errors = 0;

  constructor(port: number, onState: OnState) {
    this.#client = new Client({ host: "127.0.0.1", port, reconnect: false, clientInfo: "p1-bench" });
    this.#client.on("initialized", () => {
      this.initialized = true;
    });
    this.#client.on("error", () => {
      this.errors++;
    });
    // States name their entity by key; report the object_id (the gateway's entity id) instead.
    const objectIds = new Map<number, string>();
    this.#client.on("newEntity", (e) => objectIds.set(e.config.key, e.config.objectId));
    (this.#client.connection as unknown as { setMaxListeners(n: number): void }).setMaxListeners(50);
    for (const name of STATE_MESSAGES) {
      this.#client.connection.on(`message.${name}`, (m) => {
        this.received++;
        onState(objectIds.get(m.key) ?? String(m.key), performance.now());
      });
    }
    this.#client.connect();
  }

  close(): void {
    this.#client.disconnect();
  }
}
