import { createRequire } from "node:module";
import { connect, type Socket } from "node:net";
import { encodePlaintextFrame, readVarint } from "../../../src/api/native/frame.ts";
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_IDS,
  type MessageName,
  messageName,
} from "../../../src/api/native/messages.ts";
import { eventually } from "../../helpers/wait.ts";

// The third-party client is CommonJS with loose typings; this is the part of it the tests use.
interface EsphomeEntity {
  readonly config: Record<string, unknown> & { key: number; objectId: string };
  readonly type: string;
  state?: Record<string, unknown>;
  on(event: "state", cb: (state: Record<string, unknown>) => void): void;
}
interface EsphomeClient {
  connect(): void;
  disconnect(): void;
  on(event: "deviceInfo", cb: (info: Record<string, unknown>) => void): void;
  on(event: "newEntity", cb: (entity: EsphomeEntity) => void): void;
  on(event: "initialized" | "disconnected", cb: () => void): void;
  on(event: "error", cb: (e: Error) => void): void;
  readonly entities: Record<string, EsphomeEntity>;
  readonly connection: {
    readonly connected: boolean;
    on(event: "error", cb: (e: Error) => void): void;
    setMaxListeners(n: number): void;
  };
}
type ClientCtor = new (options: Record<string, unknown>) => EsphomeClient;
const require = createRequire(import.meta.url);
const { Client } = require("@2colors/esphome-native-api") as { Client: ClientCtor };

/** Re-exported: the native API tests wait with it. */
export { eventually };

/** A @2colors/esphome-native-api client with what it received, recorded. */
export class ThirdPartyClient {
  readonly client: EsphomeClient;
  deviceInfo: Record<string, unknown> | null = null;
  initialized = false;
  readonly errors: Error[] = [];
  /** Every state message, in order, per key. */
  readonly states = new Map<number, Record<string, unknown>[]>();

  constructor(port: number, encryptionKey?: Buffer) {
    this.client = new Client({
      host: "127.0.0.1",
      port,
      reconnect: false,
      ...(encryptionKey === undefined ? {} : { encryptionKey: encryptionKey.toString("base64") }),
    });
    // The library adds one listener per sensor to its connection; past 10 Node warns of a leak that is not.
    this.client.connection.setMaxListeners(0);
    this.client.on("deviceInfo", (info) => {
      this.deviceInfo = info;
    });
    this.client.on("initialized", () => {
      this.initialized = true;
    });
    this.client.on("error", (e) => this.errors.push(e));
    this.client.on("newEntity", (entity) => {
      entity.on("state", (s) => {
        const list = this.states.get(entity.config.key) ?? [];
        list.push(s);
        this.states.set(entity.config.key, list);
      });
    });
    this.client.connect();
  }

  entity(objectId: string): EsphomeEntity {
    const e = Object.values(this.client.entities).find((x) => x.config.objectId === objectId);
    if (e === undefined) throw new Error(`no entity ${objectId}`);
    return e;
  }

  lastState(objectId: string): Record<string, unknown> | undefined {
    return this.states.get(this.entity(objectId).config.key)?.at(-1);
  }

  close(): void {
    this.client.disconnect();
    // The library's disconnect() removes every listener of its connection, yet a request still pending
    // (a hello the server refused) later rejects and emits 'error' there: without a listener that is an
    // unhandled rejection in whatever test runs next. Late errors of a closed client are of no interest.
    this.client.connection.on("error", () => {});
  }
}

/** A message as a raw test client sees it. */
export interface Received {
  readonly name: MessageName | undefined;
  readonly type: number;
  readonly fields: Record<string, unknown> | null;
}

/** A raw TCP client speaking plaintext frames, for malformed input and exact replies. */
export class RawClient {
  readonly socket: Socket;
  readonly received: Received[] = [];
  raw: Buffer = Buffer.alloc(0);
  closed = false;
  #pending: Buffer = Buffer.alloc(0);

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      this.#pending = Buffer.concat([this.#pending, chunk]);
      this.#parse();
    });
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  send(name: MessageName, fields: Record<string, unknown> = {}, type?: number): void {
    const payload = encodeMessage(name, fields);
    this.socket.write(encodePlaintextFrame(type ?? messageId(name), payload));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  async waitFor(name: MessageName, timeoutMs = 5_000): Promise<Received> {
    const find = (): Received | undefined => this.received.find((m) => m.name === name);
    await eventually(() => find() !== undefined, name, timeoutMs);
    return find() as Received;
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await eventually(() => this.closed, "server to close the socket", timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  #parse(): void {
    for (;;) {
      const buf = this.#pending;
      if (buf.length === 0 || buf[0] !== 0) return;
      const len = readVarint(buf, 1);
      if (typeof len === "string") return;
      const type = readVarint(buf, len.next);
      if (typeof type === "string") return;
      const end = type.next + len.value;
      if (end > buf.length) return;
      const name = messageName(type.value);
      const payload = buf.subarray(type.next, end);
      this.received.push({
        name,
        type: type.value,
        fields: name === undefined ? null : decodeMessage(name, payload),
      });
      this.#pending = buf.subarray(end);
    }
  }
}

function messageId(name: MessageName): number {
  return MESSAGE_IDS[name];
}
