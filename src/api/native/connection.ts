import type { Socket } from "node:net";
import type { EntityState, GatewayView, LinkState } from "../../gateway/types.ts";
import { isP1Error, type Logger, P1Error } from "../../shared/index.ts";
import {
  entityStateMessage,
  linkStateMessage,
  type NativeEntity,
  type NativeStateMessage,
} from "./entities.ts";
import type { FrameCodec, RawMessage } from "./frame.ts";
import {
  decodeMessage,
  encodeMessage,
  encodeStateMessage,
  MESSAGE_IDS,
  type MessageName,
  messageName,
} from "./messages.ts";

/** Version this device reports in HelloResponse: what current firmware answers (§4). */
export const API_VERSION = { major: 1, minor: 14 } as const;

/** What every connection needs from its server. */
export interface ConnectionContext {
  readonly view: GatewayView;
  readonly logger: Logger;
  /** The device's entities now, in list order. */
  entities(): readonly NativeEntity[];
  /** Current link state of a source. */
  linkOf(sourceId: string): LinkState | undefined;
  readonly hello: { readonly serverInfo: string; readonly name: string };
  /** DeviceInfoResponse fields. */
  readonly deviceInfo: Readonly<Record<string, unknown>>;
  /** No traffic for this long → PingRequest; for 2.5× this long → close (§4, firmware). Also the hello timeout. */
  readonly keepaliveMs: number;
  /** Messages held back for a client that does not read, beyond the latest state per entity. */
  readonly maxQueue: number;
  readonly now: () => number;
  readonly onClose: (c: NativeConnection) => void;
}

// ESPHome firmware closes a connection idle for 2.5 × the keepalive after its ping (§4).
const KEEPALIVE_CLOSE_FACTOR = 2.5;
// How often idleness is checked, as a fraction of the keepalive.
const KEEPALIVE_TICKS = 4;
// A peer asked to disconnect (entity set changed, server stop) gets this long to answer.
const DISCONNECT_GRACE_MS = 2_000;
// Before the hello completed, only these are legitimate (§3 notes); others are skipped.
const BEFORE_HELLO: ReadonlySet<MessageName> = new Set([
  "HelloRequest",
  "DisconnectRequest",
  "DisconnectResponse",
  "PingRequest",
  "PingResponse",
  "DeviceInfoRequest",
]);

/** One message waiting to be framed and written. */
export interface Outgoing {
  readonly type: number;
  readonly payload: Uint8Array;
}

/**
 * Per-connection send queue: writes through while the socket accepts, holds messages back while it
 * pushes back; held states coalesce to the latest per key (§ slow clients), other messages queue in
 * order up to `cap` (beyond that the client is not reading and is dropped). Messages are framed
 * (and, with Noise, encrypted) only when written, so the nonce order always matches the wire.
 */
export class Outbox {
  #fifo: Outgoing[] = [];
  readonly #states = new Map<number, Outgoing>();
  #blocked = false;

  readonly #write: (m: Outgoing) => boolean;
  readonly #cap: number;
  readonly #onCoalesced: (n: number) => void;

  /** `write` returns false when the socket pushes back (then 'drain' must call drain()). */
  constructor(write: (m: Outgoing) => boolean, cap: number, onCoalesced: (n: number) => void) {
    this.#write = write;
    this.#cap = cap;
    this.#onCoalesced = onCoalesced;
  }

  /** Messages held back now. */
  get size(): number {
    return this.#fifo.length + this.#states.size;
  }

  /** Queues or writes a message; returns false when the ordered queue overflowed. */
  push(m: Outgoing, stateKey: number | null): boolean {
    if (!this.#blocked && this.size === 0) {
      this.#blocked = !this.#write(m);
      return true;
    }
    if (stateKey !== null) {
      if (this.#states.has(stateKey)) {
        this.#states.delete(stateKey);
        this.#onCoalesced(1);
      }
      this.#states.set(stateKey, m);
      return true;
    }
    this.#fifo.push(m);
    return this.#fifo.length <= this.#cap;
  }

  /** The socket drained: write what waits until it pushes back again. */
  drain(): void {
    this.#blocked = false;
    while (!this.#blocked) {
      const next = this.#fifo.shift() ?? this.#takeState();
      if (next === undefined) return;
      this.#blocked = !this.#write(next);
    }
  }

  /** Drops everything held back (connection closing). */
  clear(): void {
    this.#fifo = [];
    this.#states.clear();
  }

  #takeState(): Outgoing | undefined {
    const first = this.#states.entries().next();
    if (first.done === true) return undefined;
    this.#states.delete(first.value[0]);
    return first.value[1];
  }
}

/** One client of the native API: framing, the message handlers, keepalive and its send queue. */
export class NativeConnection {
  readonly #socket: Socket;
  readonly #codec: FrameCodec;
  readonly #ctx: ConnectionContext;
  readonly #outbox: Outbox;
  readonly #remote: string;
  readonly #openedAtMs: number;
  #lastRxMs: number;
  #pinged = false;
  #helloDone = false;
  #listedKeys: ReadonlySet<number> | null = null;
  #subscribed = false;
  #closing = false;
  #closed = false;
  #corked = false;
  #keepalive: NodeJS.Timeout | null = null;
  #graceTimer: NodeJS.Timeout | null = null;

  constructor(socket: Socket, codec: FrameCodec, ctx: ConnectionContext) {
    this.#socket = socket;
    this.#codec = codec;
    this.#ctx = ctx;
    this.#remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    this.#openedAtMs = ctx.now();
    this.#lastRxMs = this.#openedAtMs;
    this.#outbox = new Outbox(
      (m) => this.#write(this.#codec.encode(m.type, m.payload)),
      ctx.maxQueue,
      (n) => ctx.view.countCoalesced(n),
    );
    ctx.view.clientConnected();
    socket.setNoDelay(true);
    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("error", this.#onError);
    socket.on("close", this.#onSocketClose);
    this.#keepalive = setInterval(this.#checkIdle, Math.max(1, ctx.keepaliveMs / KEEPALIVE_TICKS));
  }

  /** True once the client subscribed to states. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Keys the client was told about (null before it listed entities). */
  get listedKeys(): ReadonlySet<number> | null {
    return this.#listedKeys;
  }

  /**
   * Writes one frame. Frames written in the same tick (a telegram's states, an entity listing) are
   * corked and leave in one writev on the next tick: with noDelay every write() would otherwise be its
   * own syscall and TCP segment, ~36 per telegram, and the client would read and wake per segment.
   */
  #write(frame: Uint8Array): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    return this.#socket.write(frame);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  /** Sends a state message if the client subscribed and knows the entity; coalesced when backed up. */
  sendState(m: NativeStateMessage): void {
    if (!this.#subscribed || this.#closing) return;
    if (this.#listedKeys !== null && !this.#listedKeys.has(m.key)) return;
    this.#queue(m.type, encodeStateMessage(m), m.key);
  }

  /** Asks the client to disconnect (§2.1 id 5): it reconnects and lists entities again. */
  requestDisconnect(reason: string): void {
    if (this.#closing) return;
    // Before the hello there is no DisconnectRequest (§1.2): just close.
    if (!this.#codec.ready || !this.#helloDone) {
      this.close();
      return;
    }
    this.#ctx.logger.debug(`asking ${this.#remote} to disconnect: ${reason}`);
    this.#send(MESSAGE_IDS.DisconnectRequest, {}, null);
    this.#closing = true;
    this.#graceTimer = setTimeout(() => this.close(), DISCONNECT_GRACE_MS);
  }

  /** Closes at once and releases everything; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#keepalive = null;
    this.#graceTimer = null;
    this.#outbox.clear();
    this.#socket.off("data", this.#onData);
    this.#socket.off("drain", this.#onDrain);
    this.#socket.off("close", this.#onSocketClose);
    // Keep an error listener: a late ECONNRESET on a destroyed socket must not crash the process.
    this.#socket.destroy();
    this.#ctx.view.clientDisconnected();
    this.#ctx.onClose(this);
  }

  /** Ends the connection over a protocol error: one log line, any handshake reply flushed first. */
  #fail(error: P1Error): void {
    this.#ctx.logger.warn(`native API client ${this.#remote} dropped: ${error.code}: ${error.message}`);
    this.#endGracefully();
  }

  /** Half-closes once the queue is empty, then destroys (after a grace period at most). */
  #endGracefully(): void {
    this.#closing = true;
    if (this.#outbox.size === 0) this.#socket.end(() => this.close());
    if (this.#graceTimer === null) this.#graceTimer = setTimeout(() => this.close(), DISCONNECT_GRACE_MS);
  }

  #send(type: number, fields: Readonly<Record<string, unknown>>, stateKey: number | null): void {
    const name = messageName(type);
    if (name === undefined) throw new Error(`message id ${type} is not in MESSAGE_IDS`);
    this.#queue(type, encodeMessage(name, fields), stateKey);
  }

  #queue(type: number, payload: Uint8Array, stateKey: number | null): void {
    const ok = this.#outbox.push({ type, payload }, stateKey);
    if (!ok) {
      this.#outbox.clear();
      this.#fail(
        new P1Error("TOO_LARGE", `client does not read: more than ${this.#ctx.maxQueue} messages queued`),
      );
    }
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    const result = this.#codec.feed(chunk);
    for (const reply of result.replies) this.#socket.write(reply);
    if (!result.ok) {
      this.#fail(result.error);
      return;
    }
    for (const m of result.messages) {
      if (this.#closed) return;
      // Pre-hello traffic does not count as liveness (§4, firmware).
      if (this.#helloDone) {
        this.#lastRxMs = this.#ctx.now();
        this.#pinged = false;
      }
      try {
        this.#handle(m);
      } catch (e) {
        if (!isP1Error(e)) throw e;
        this.#fail(e);
        return;
      }
    }
  };

  #handle(m: RawMessage): void {
    const name = messageName(m.type);
    // Ids outside the subset (commands, Bluetooth, voice, …) are skipped without a reply (§2.1).
    if (name === undefined) return;
    if (!this.#helloDone && !BEFORE_HELLO.has(name)) return;
    if (this.#closing && name !== "DisconnectResponse") return;
    let fields: Record<string, unknown>;
    try {
      fields = decodeMessage(name, m.payload);
    } catch (e) {
      throw new P1Error("FRAME_INVALID", `${name} does not parse: ${(e as Error).message}`, undefined, {
        cause: e,
      });
    }
    const handler = HANDLERS[name];
    handler?.(this, fields);
  }

  /** Message handlers, by message name; a name without one is accepted and ignored. */
  static readonly handlers: Partial<
    Record<MessageName, (c: NativeConnection, f: Record<string, unknown>) => void>
  >;

  onHello(): void {
    this.#helloDone = true;
    this.#lastRxMs = this.#ctx.now();
    const { serverInfo, name } = this.#ctx.hello;
    this.#send(
      MESSAGE_IDS.HelloResponse,
      {
        api_version_major: API_VERSION.major,
        api_version_minor: API_VERSION.minor,
        server_info: serverInfo,
        name,
      },
      null,
    );
  }

  onAuthentication(): void {
    // Password auth is gone from firmware; every request gets invalid_password = false (§3 notes).
    this.#send(MESSAGE_IDS.AuthenticationResponse, { invalid_password: false }, null);
  }

  onDisconnectRequest(): void {
    this.#send(MESSAGE_IDS.DisconnectResponse, {}, null);
    this.#endGracefully();
  }

  onDisconnectResponse(): void {
    this.close();
  }

  onPing(): void {
    this.#send(MESSAGE_IDS.PingResponse, {}, null);
  }

  onDeviceInfo(): void {
    this.#send(MESSAGE_IDS.DeviceInfoResponse, this.#ctx.deviceInfo, null);
  }

  onListEntities(): void {
    const entities = this.#ctx.entities();
    for (const e of entities) this.#send(e.listType, e.listFields, null);
    this.#send(MESSAGE_IDS.ListEntitiesDoneResponse, {}, null);
    this.#listedKeys = new Set(entities.map((e) => e.key));
  }

  onSubscribeStates(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    // The current state of every entity now, missing_state for those without one (§3 step 8).
    const states = new Map<string, EntityState>(this.#ctx.view.states().map((s) => [s.entityId, s]));
    for (const e of this.#ctx.entities()) {
      if (e.source.kind === "entity") {
        this.sendState(entityStateMessage(e, states.get(e.source.entity.id)));
      } else {
        this.sendState(linkStateMessage(e.key, this.#ctx.linkOf(e.source.sourceId)));
      }
    }
  }

  onGetTime(): void {
    this.#send(MESSAGE_IDS.GetTimeResponse, { epoch_seconds: Math.floor(this.#ctx.now() / 1000) }, null);
  }

  readonly #onDrain = (): void => {
    if (this.#closed) return;
    this.#outbox.drain();
    if (this.#closing && this.#outbox.size === 0 && this.#socket.writable)
      this.#socket.end(() => this.close());
  };

  readonly #onError = (e: Error): void => {
    if (!this.#closed) this.#ctx.logger.debug(`native API client ${this.#remote}: ${e.message}`);
    this.close();
  };

  readonly #onSocketClose = (): void => this.close();

  readonly #checkIdle = (): void => {
    if (this.#closed) return;
    const now = this.#ctx.now();
    const { keepaliveMs } = this.#ctx;
    if (!this.#helloDone) {
      if (now - this.#openedAtMs >= keepaliveMs) {
        this.#fail(new P1Error("TRUNCATED", `no hello within ${keepaliveMs} ms`));
      }
      return;
    }
    const idle = now - this.#lastRxMs;
    if (idle >= KEEPALIVE_CLOSE_FACTOR * keepaliveMs) {
      this.#ctx.logger.warn(`native API client ${this.#remote} dropped: no traffic for ${idle} ms`);
      this.close();
    } else if (idle >= keepaliveMs && !this.#pinged && !this.#closing) {
      this.#pinged = true;
      this.#send(MESSAGE_IDS.PingRequest, {}, null);
    }
  };
}

/**
 * What the device does per request (§2.1, §3); a message of the subset without an entry (logs,
 * Home Assistant services and states subscriptions, responses) is accepted and needs no reply.
 */
const HANDLERS: Partial<Record<MessageName, (c: NativeConnection, fields: Record<string, unknown>) => void>> =
  {
    HelloRequest: (c) => c.onHello(),
    AuthenticationRequest: (c) => c.onAuthentication(),
    DisconnectRequest: (c) => c.onDisconnectRequest(),
    DisconnectResponse: (c) => c.onDisconnectResponse(),
    PingRequest: (c) => c.onPing(),
    DeviceInfoRequest: (c) => c.onDeviceInfo(),
    ListEntitiesRequest: (c) => c.onListEntities(),
    SubscribeStatesRequest: (c) => c.onSubscribeStates(),
    GetTimeRequest: (c) => c.onGetTime(),
  };
