import { createServer, type Server, type Socket } from "node:net";
import { type Logger, P1Error, silentLogger } from "../shared/index.ts";
import type { Source } from "./source.ts";

/** Where and how a source's raw bytes are served again (ser2net-style, raw TCP, read-only). */
export interface FanoutOptions {
  /** The source whose bytes are re-served; tapped through its `data` events, never slowed down. */
  readonly source: Source;
  /** Bind address (`0.0.0.0`, `::`, `127.0.0.1`). */
  readonly host: string;
  /** TCP port; 0 = any free port (see `port` once started). */
  readonly port: number;
  /** Bytes queued for one reader before it is cut off (default 64 KiB). */
  readonly maxClientBufferBytes?: number;
  /** Readers at once; more are refused (default 8). */
  readonly maxClients?: number;
  readonly logger?: Logger;
}

/**
 * Cap of what waits for one reader, past what the kernel's socket buffers already hold: DSMR 5 writes
 * about 1 KB a second, so 64 KiB is a minute of telegrams. A reader that falls this far behind is stuck;
 * it is cut off rather than slowing the gateway or growing memory.
 */
export const DEFAULT_FANOUT_CLIENT_BUFFER_BYTES = 64 * 1024;
/** Readers at once: a home has a few (another home-automation system, a logger); this bounds memory. */
export const DEFAULT_FANOUT_MAX_CLIENTS = 8;

/**
 * Serves the raw byte stream of one source on a TCP port, so other readers share the one physical P1
 * port. Readers get every byte from their connect on, exactly as the meter wrote it; what they send is
 * ignored. A reader whose queue exceeds the cap is disconnected and counted; the source never waits.
 */
export class RawFanout {
  readonly #source: Source;
  readonly #host: string;
  readonly #requestedPort: number;
  readonly #maxBuffer: number;
  readonly #maxClients: number;
  readonly #log: Logger;
  readonly #clients = new Set<Socket>();
  #server: Server | undefined;
  #starting: Promise<void> | undefined;
  #port = 0;
  #cutOff = 0;
  #refused = 0;
  #served = 0;

  constructor(options: FanoutOptions) {
    this.#source = options.source;
    this.#host = options.host;
    this.#requestedPort = options.port;
    this.#maxBuffer = options.maxClientBufferBytes ?? DEFAULT_FANOUT_CLIENT_BUFFER_BYTES;
    this.#maxClients = options.maxClients ?? DEFAULT_FANOUT_MAX_CLIENTS;
    this.#log = options.logger ?? silentLogger;
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535)
      throw new P1Error("CONFIG_INVALID", `fanout port must be 0-65535, got ${options.port}`, {
        key: "fanout",
      });
    if (!(this.#maxBuffer > 0) || !(this.#maxClients > 0))
      throw new P1Error("CONFIG_INVALID", "fanout buffer and client limits must be > 0", { key: "fanout" });
  }

  /** The port listened on (after `start`). */
  get port(): number {
    return this.#port;
  }

  /** Readers connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Readers disconnected because they fell behind by more than the buffer cap. */
  get cutOff(): number {
    return this.#cutOff;
  }

  /** Connections refused because `maxClients` readers were connected. */
  get refused(): number {
    return this.#refused;
  }

  /** Readers accepted since start. */
  get served(): number {
    return this.#served;
  }

  /** `host:port` listened on. */
  get address(): string {
    return this.#host.includes(":") ? `[${this.#host}]:${this.#port}` : `${this.#host}:${this.#port}`;
  }

  /** Listens and starts copying the source's bytes; idempotent. Rejects when the port cannot be bound. */
  start(): Promise<void> {
    this.#starting ??= new Promise<void>((resolve, reject) => {
      const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
      const onError = (e: Error) => {
        this.#starting = undefined;
        reject(
          new P1Error(
            "CONFIG_INVALID",
            `cannot serve the raw fan-out on ${this.#host}:${this.#requestedPort}`,
            {
              key: "fanout",
            },
            { cause: e },
          ),
        );
      };
      server.once("error", onError);
      server.listen(this.#requestedPort, this.#host, () => {
        server.off("error", onError);
        // Later accept errors (EMFILE) must not crash the process; the server keeps listening.
        server.on("error", (e) => this.#log.warn(`fan-out ${this.address}: ${e.message}`));
        const address = server.address();
        this.#port = typeof address === "object" && address !== null ? address.port : this.#requestedPort;
        this.#server = server;
        this.#source.on("data", this.#onData);
        resolve();
      });
    });
    return this.#starting;
  }

  /** Stops listening and disconnects every reader; idempotent. */
  async stop(): Promise<void> {
    const starting = this.#starting;
    this.#starting = undefined;
    await starting?.catch(() => {});
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    this.#source.off("data", this.#onData);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#clients) socket.destroy();
    this.#clients.clear();
    await closed;
  }

  #accept(socket: Socket): void {
    const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.on("error", () => {}); // a reset by the reader ends it like a close
    if (this.#clients.size >= this.#maxClients) {
      this.#refused++;
      this.#log.warn(`fan-out ${this.address}: refused ${peer}, ${this.#maxClients} readers connected`);
      socket.destroy();
      return;
    }
    this.#served++;
    this.#clients.add(socket);
    socket.once("close", () => this.#clients.delete(socket));
    socket.resume(); // what a reader sends goes nowhere (the P1 port is send-only)
    this.#log.info(`fan-out ${this.address}: reader ${peer} connected`);
  }

  readonly #onData = (chunk: Buffer): void => {
    for (const socket of this.#clients) {
      if (socket.writableLength + chunk.length > this.#maxBuffer) {
        this.#cutOff++;
        this.#clients.delete(socket);
        socket.destroy();
        this.#log.warn(
          `fan-out ${this.address}: cut off a reader more than ${this.#maxBuffer} bytes behind (${this.#cutOff} so far)`,
        );
        continue;
      }
      socket.write(chunk);
    }
  };
}
