import { createHash, timingSafeEqual } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import type { EntityInfo, EntityState, GatewayView, TelegramEvent } from "../../gateway/types.ts";
import { type Logger, P1Error, silentLogger } from "../../shared/index.ts";
import { type GrpcDiagnostics, type PbDiagnostics, toDiagnostics } from "./diagnostics.ts";
import {
  type PbEntityState,
  type PbGatewayInfo,
  type PbListEntitiesResponse,
  type PbTelegram,
  toEntity,
  toGatewayInfo,
  toTelegram,
} from "./mapping.ts";
import { encodeEntityState } from "./state-encoding.ts";
import { type GrpcStatus, isInternalError, RequestError, shutdownStatus, toGrpcStatus } from "./status.ts";

/** Directory holding the project's .proto files (the include root of gateway.proto's imports). */
export const PROTO_ROOT = fileURLToPath(new URL("../../../proto", import.meta.url));
/** The gateway API's .proto, relative to PROTO_ROOT (also its file name in reflection). */
export const GATEWAY_PROTO_FILE = "p1gateway/v1/gateway.proto";
/** Fully-qualified name of the gateway service (also its health-check service name). */
export const GATEWAY_SERVICE = "p1gateway.v1.Gateway";

/** Default cap of messages held back per slow stream (states beyond it are coalesced per entity). */
export const DEFAULT_MAX_QUEUE_PER_CLIENT = 256;
// Streams still open when stop() is called are ended with UNAVAILABLE; a client that does not read
// its last messages cannot hold shutdown up longer than this.
const SHUTDOWN_GRACE_MS = 1_000;
// Filter ids as the gateway makes them: entity and meter ids are slugs (meters/entities.ts), source
// ids may also hold '-' (config: a-z, 0-9, _ and -). The caps bound what one request can make us hold.
const SLUG_ID_RE = /^[a-z0-9_]+$/;
const SOURCE_ID_RE = /^[a-z0-9_-]+$/;
const MAX_ID_LENGTH = 128;
const MAX_IDS_PER_FIELD = 1_000;

/** Options of the gRPC server. */
export interface GrpcServerOptions {
  /** Address to bind ("127.0.0.1", "0.0.0.0", "::"). */
  readonly host: string;
  /** TCP port; 0 picks a free one (see GrpcServer.port). */
  readonly port: number;
  /** Messages held back per slow stream before states coalesce / oldest telegrams drop (default 256). */
  readonly maxQueuePerClient?: number;
  /** Where bugs caught in handlers are logged (clients get a bare INTERNAL); silent by default. */
  readonly logger?: Logger;
  /** Serve TLS with this certificate; absent = plaintext. */
  readonly tls?: GrpcTlsOptions;
  /**
   * Bearer token every call must carry as `authorization: Bearer <token>`, on every service (the
   * gateway's, health checking and reflection alike); absent = no token asked.
   */
  readonly token?: Uint8Array;
  /** Telegrams and configuration for GetDiagnostics; without it the bundle has neither. */
  readonly diagnostics?: GrpcDiagnostics;
}

/** TLS of the gRPC server: PEM certificate chain and key, and optionally the CA of client certificates. */
export interface GrpcTlsOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Clients must present a certificate this CA signed (mutual TLS). */
  readonly clientCa?: Buffer;
}

/** A running gRPC server. */
export interface GrpcServer {
  /** The bound port (the real one when the options asked for 0). */
  readonly port: number;
  /** `host:port` as bound, IPv6 hosts in brackets. */
  readonly address: string;
  /** Messages currently held back for slow clients, over all streams (for metrics and tests). */
  queuedMessages(): number;
  /** Marks the service NOT_SERVING, ends open streams with UNAVAILABLE, then shuts down; idempotent. */
  stop(): Promise<void>;
}

// keepCase keeps proto field names, longs as Number (counters stay far below 2^53), enums as names.
const LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let gatewayPackage: protoLoader.PackageDefinition | undefined;
let reflectedPackage: protoLoader.PackageDefinition | undefined;

/** The gateway's package definition, loaded from the .proto at run time (no generated code), cached. */
export function loadGatewayPackage(): protoLoader.PackageDefinition {
  gatewayPackage ??= protoLoader.loadSync(GATEWAY_PROTO_FILE, { ...LOAD_OPTIONS, includeDirs: [PROTO_ROOT] });
  return gatewayPackage;
}

/** What reflection describes: the gateway service plus the health service, so both work without a .proto. */
function reflectionPackage(): protoLoader.PackageDefinition {
  reflectedPackage ??= { ...protoLoader.loadSync(healthProtoPath, LOAD_OPTIONS), ...loadGatewayPackage() };
  return reflectedPackage;
}

function gatewayServiceDefinition(pkg: protoLoader.PackageDefinition): grpc.ServiceDefinition {
  const def = pkg[GATEWAY_SERVICE];
  if (def === undefined || "format" in def || !("StreamStates" in def) || !("StreamTelegrams" in def)) {
    throw new Error(`${GATEWAY_PROTO_FILE} does not define the service ${GATEWAY_SERVICE}`);
  }
  return def as grpc.ServiceDefinition;
}

/**
 * The service with its streams' responses accepted already encoded: grpc-js serializes per write, so
 * a state sent to 1,000 subscribers would be encoded 1,000 times; the streams encode it once and share
 * the bytes (issue 8, fan-out).
 */
function sharingEncodings(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const preEncoded = (
    m: grpc.MethodDefinition<unknown, unknown>,
  ): grpc.MethodDefinition<unknown, unknown> => ({
    ...m,
    responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : m.responseSerialize(value)),
  });
  return {
    ...def,
    StreamStates: preEncoded(def.StreamStates as grpc.MethodDefinition<unknown, unknown>),
    StreamTelegrams: preEncoded(def.StreamTelegrams as grpc.MethodDefinition<unknown, unknown>),
  };
}

// ---- Request narrowing: proto-loader hands over untyped objects ----

/** The ids of one repeated filter field; null when the field is empty (no filter). */
function readIds(request: unknown, field: string, idRe: RegExp): ReadonlySet<string> | null {
  const raw =
    typeof request === "object" && request !== null ? (request as Record<string, unknown>)[field] : [];
  const ids = Array.isArray(raw) ? raw : [];
  if (ids.length > MAX_IDS_PER_FIELD) {
    throw new RequestError(`${field}: at most ${MAX_IDS_PER_FIELD} ids, got ${ids.length}`, field, []);
  }
  const bad = ids
    .filter((id) => typeof id !== "string" || id.length > MAX_ID_LENGTH || !idRe.test(id))
    .map((id) => String(id).slice(0, MAX_ID_LENGTH));
  if (bad.length > 0) {
    const shown = bad.slice(0, 10).map((id) => JSON.stringify(id));
    throw new RequestError(
      `${field}: malformed ids ${shown.join(", ")}${bad.length > 10 ? ", ..." : ""} ` +
        `(ids match ${idRe.source}, at most ${MAX_ID_LENGTH} characters)`,
      field,
      bad,
    );
  }
  return ids.length === 0 ? null : new Set(ids as string[]);
}

// ---- Bounded outbox: what a slow client has not taken yet ----

/**
 * Messages waiting for one stream. Writes go straight through while the stream accepts them; once
 * call.write() reports back-pressure, items wait here until 'drain'. At most `cap` wait in order;
 * beyond that, keyed items (states) collapse to the latest per key, a set bounded by the number of
 * entities, and unkeyed items (telegrams) drop oldest first. Everything not delivered is reported
 * through `onDropped`.
 */
class Outbox<T> {
  #fifo: T[] = [];
  #latest: Map<string, T> | null = null;
  #blocked = false;
  readonly #write: (item: T) => boolean;
  readonly #cap: number;
  readonly #keyOf: ((item: T) => string) | null;
  readonly #onDropped: (n: number) => void;

  constructor(
    write: (item: T) => boolean,
    cap: number,
    keyOf: ((item: T) => string) | null,
    onDropped: (n: number) => void,
  ) {
    this.#write = write;
    this.#cap = cap;
    this.#keyOf = keyOf;
    this.#onDropped = onDropped;
  }

  get size(): number {
    return this.#fifo.length + (this.#latest?.size ?? 0);
  }

  push(item: T): void {
    if (!this.#blocked && this.size === 0) {
      this.#blocked = !this.#write(item);
      return;
    }
    if (this.#latest !== null && this.#keyOf !== null) {
      const key = this.#keyOf(item);
      if (this.#latest.has(key)) this.#onDropped(1);
      this.#latest.set(key, item);
      return;
    }
    this.#fifo.push(item);
    if (this.#fifo.length <= this.#cap) return;
    if (this.#keyOf === null) {
      this.#fifo.shift();
      this.#onDropped(1);
      return;
    }
    const keyOf = this.#keyOf;
    const latest = new Map<string, T>();
    for (const queued of this.#fifo) latest.set(keyOf(queued), queued);
    this.#onDropped(this.#fifo.length - latest.size);
    this.#fifo = [];
    this.#latest = latest;
  }

  /** The stream drained: write what waits until it pushes back again. */
  drain(): void {
    this.#blocked = false;
    while (!this.#blocked && this.size > 0) {
      const next = this.#take();
      if (next === undefined) break;
      this.#blocked = !this.#write(next.item);
    }
  }

  clear(): void {
    this.#fifo = [];
    this.#latest = null;
  }

  #take(): { item: T } | undefined {
    if (this.#fifo.length > 0) return { item: this.#fifo.shift() as T };
    if (this.#latest === null) return undefined;
    const first = this.#latest.entries().next();
    if (first.done === true) {
      this.#latest = null;
      return undefined;
    }
    const [key, item] = first.value;
    this.#latest.delete(key);
    if (this.#latest.size === 0) this.#latest = null;
    return { item };
  }
}

// ---- Shared per-server state ----

/** What the server needs of an open stream: its backlog size, and a way to end it on stop. */
interface OpenStream {
  readonly queued: number;
  end(status: GrpcStatus): void;
}

interface ServerContext {
  readonly view: GatewayView;
  readonly maxQueue: number;
  readonly streams: Set<OpenStream>;
  /** One encoding per telegram and per state, however many streams send it. */
  readonly telegrams: WeakMap<TelegramEvent, Buffer>;
  readonly states: WeakMap<EntityState, Buffer>;
  readonly stateFanout: StateFanout;
  readonly encodeTelegram: (t: PbTelegram) => Buffer;
  readonly encodeState: (s: EntityState, unit: string | null) => Buffer;
  readonly reportInternal: (error: unknown) => void;
  /** Called when grpc-js lacks the internals batchWrites needs (logged once: slower, still correct). */
  readonly reportUnbatched: () => void;
}

const CALL_END_EVENTS = ["cancelled", "close", "error", "finish"] as const;

/** Messages one tick may cork into a stream beyond the Writable's 16 (a DSMR telegram has ~40 values). */
const MAX_BATCH = 128;

/**
 * What batching needs of grpc-js beyond its typings: the intercepting call under a ServerWritableStream
 * (its `call`, whose sendMessage is the public ServerInterceptingCallInterface method) and, on the base
 * call, the HTTP/2 stream. Checked at run time; where they are missing the call writes one by one.
 */
interface CallInternals {
  readonly call?: {
    sendMessage?(message: unknown, callback: () => void): void;
    readonly stream?: { cork?(): void; uncork?(): void };
  };
}

/**
 * Lets a server stream send all the messages corked in one tick as one HTTP/2 write. grpc-js writes a
 * stream's messages one at a time, the next only after the previous one's write completed, so a
 * telegram's ~36 states took ~36 event-loop turns and socket writes (~3 ms). With `_writev` the Writable
 * hands the corked messages over together; each still goes through grpc-js's own sendMessage
 * (serialization, size limit, cancellation, channelz), only their HTTP/2 writes are corked into one.
 */
function batchWrites(call: grpc.ServerWritableStream<unknown, unknown>): boolean {
  const inner = (call as unknown as CallInternals).call;
  const sendMessage = inner?.sendMessage;
  if (inner === undefined || typeof sendMessage !== "function") return false;
  const writable = call as unknown as {
    _writev(chunks: readonly { chunk: unknown }[], callback: (error?: Error | null) => void): void;
  };
  writable._writev = (chunks, callback) => {
    const h2 = inner.stream;
    let pending = chunks.length;
    const sent = () => {
      pending--;
      if (pending === 0) callback();
    };
    h2?.cork?.();
    for (const { chunk } of chunks) sendMessage.call(inner, chunk, sent);
    h2?.uncork?.();
  };
  return true;
}

/**
 * One server-streaming call: counts the client, owns its outbox and its view listeners, and releases
 * all of them exactly once however the call ends (cancelled, broken, failed, server stop).
 */
class StreamSession<T> implements OpenStream {
  readonly #call: grpc.ServerWritableStream<unknown, unknown>;
  readonly #ctx: ServerContext;
  readonly #outbox: Outbox<T>;
  #unsubscribe: (() => void) | null = null;
  #closed = false;
  readonly #batching: boolean;
  #corked = false;
  #backlogged = false;

  constructor(
    call: grpc.ServerWritableStream<unknown, unknown>,
    ctx: ServerContext,
    toMessage: (item: T) => object,
    keyOf: ((item: T) => string) | null,
  ) {
    this.#call = call;
    this.#ctx = ctx;
    this.#outbox = new Outbox<T>(
      (item) => this.#write(toMessage(item)),
      ctx.maxQueue,
      keyOf,
      (n) => {
        if (n > 0) ctx.view.countCoalesced(n);
      },
    );
    this.#batching = batchWrites(call);
    if (!this.#batching) ctx.reportUnbatched();
    ctx.view.clientConnected();
    ctx.streams.add(this);
    for (const ev of CALL_END_EVENTS) call.on(ev, this.close);
    call.on("drain", this.#onDrain);
  }

  get queued(): number {
    return this.#outbox.size;
  }

  /**
   * Writes one message; messages written in the same tick are corked and leave together (batchWrites).
   * The Writable says "full" at 16 objects, but corked messages leave together at the end of the tick:
   * a tick that began with nothing in flight may go on up to MAX_BATCH (one telegram's states, with
   * room), so a telegram is not split into two writes; a stream with a backlog is held back as before.
   */
  #write(message: object): boolean {
    if (this.#batching && !this.#corked) {
      this.#corked = true;
      this.#backlogged = this.#call.writableLength > 0;
      this.#call.cork();
      process.nextTick(this.#uncork);
    }
    const accepted = this.#call.write(message);
    return accepted || (this.#corked && !this.#backlogged && this.#call.writableLength < MAX_BATCH);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#call.uncork();
  };

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends headers (the client knows it is subscribed), then runs `subscribe`, which returns its undo. */
  start(subscribe: () => () => void): void {
    try {
      this.#call.sendMetadata(new grpc.Metadata());
      this.#unsubscribe = subscribe();
    } catch (e) {
      // Thrown out of the handler, grpc-js would end the call without our 'close' ever firing.
      this.fail(e);
    }
    if (this.#closed) this.#releaseListeners();
  }

  /** Queues or writes one item; a failure (a bug) ends this stream only, never the emitter's caller. */
  push(item: T): void {
    if (this.#closed) return;
    try {
      this.#outbox.push(item);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Ends the stream with the status for `e` (INTERNAL for bugs, reported to the server's owner). */
  fail(e: unknown): void {
    if (isInternalError(e)) this.#ctx.reportInternal(e);
    this.end(toGrpcStatus(e));
  }

  /** Releases everything, then ends the call with `status`. */
  end(status: GrpcStatus): void {
    if (this.#closed) return;
    this.close();
    // grpc-js turns an 'error' event on a server stream into the call's final status.
    this.#call.emit("error", status);
  }

  /** Idempotent release: view listeners, call listeners, queued items, the client count. */
  readonly close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#releaseListeners();
    for (const ev of CALL_END_EVENTS) this.#call.off(ev, this.close);
    this.#call.off("drain", this.#onDrain);
    this.#outbox.clear();
    this.#ctx.streams.delete(this);
    this.#ctx.view.clientDisconnected();
  };

  #releaseListeners(): void {
    const undo = this.#unsubscribe;
    this.#unsubscribe = null;
    undo?.();
  }

  readonly #onDrain = (): void => {
    if (this.#closed) return;
    try {
      this.#outbox.drain();
    } catch (e) {
      this.fail(e);
    }
  };
}

// ---- Handlers ----

function getInfo(ctx: ServerContext, callback: grpc.sendUnaryData<PbGatewayInfo>): void {
  let reply: PbGatewayInfo;
  try {
    reply = toGatewayInfo(ctx.view.info());
  } catch (e) {
    if (isInternalError(e)) ctx.reportInternal(e);
    callback(toGrpcStatus(e));
    return;
  }
  callback(null, reply);
}

function listEntities(ctx: ServerContext, callback: grpc.sendUnaryData<PbListEntitiesResponse>): void {
  let reply: PbListEntitiesResponse;
  try {
    reply = { entities: ctx.view.entities().map(toEntity) };
  } catch (e) {
    if (isInternalError(e)) ctx.reportInternal(e);
    callback(toGrpcStatus(e));
    return;
  }
  callback(null, reply);
}

/** Which entities a StreamStates call wants. */
interface StateFilter {
  readonly entityIds: ReadonlySet<string> | null;
  readonly meterIds: ReadonlySet<string> | null;
  readonly sourceIds: ReadonlySet<string> | null;
}

/** Whether the filter needs the entity's meter and source (a lookup in the view). */
const needsInfo = (filter: StateFilter): boolean => filter.meterIds !== null || filter.sourceIds !== null;

function matches(filter: StateFilter, entityId: string, info: EntityInfo | undefined): boolean {
  if (filter.entityIds !== null && !filter.entityIds.has(entityId)) return false;
  if (!needsInfo(filter)) return true;
  if (info === undefined) return false;
  if (filter.meterIds !== null && !filter.meterIds.has(info.meter.id)) return false;
  return filter.sourceIds === null || filter.sourceIds.has(info.sourceId);
}

/**
 * The states a snapshot for `filter` is taken from: those of the sources it names, or the entities it
 * names, rather than every state of a gateway with thousands of meters (each state is built anew).
 */
function candidateStates(view: GatewayView, filter: StateFilter): Iterable<EntityState> {
  if (filter.entityIds !== null) {
    const out: EntityState[] = [];
    for (const id of filter.entityIds) {
      const s = view.state(id);
      if (s !== undefined) out.push(s);
    }
    return out;
  }
  if (filter.sourceIds === null) return view.states();
  return [...filter.sourceIds].flatMap((id) => view.states(id));
}

/** One StreamStates call as the fan-out sees it. */
interface StateSubscriber {
  readonly filter: StateFilter;
  readonly session: StreamSession<EntityState>;
}

/**
 * Every StreamStates call of a server, fed by one 'state' listener (held only while a call is open):
 * only the calls whose filter can match are visited, found by the filter's most selective field, and a
 * state is encoded once for all of them, with the unit of the entity its event brings. With a listener
 * per call, a gateway of thousands of meters watched by a few filtered clients did a lookup per state
 * per client.
 */
class StateFanout {
  readonly #view: GatewayView;
  readonly #states: WeakMap<EntityState, Buffer>;
  readonly #encode: (s: EntityState, unit: string | null) => Buffer;
  readonly #all = new Set<StateSubscriber>();
  /** Calls without a filter: every state goes to them. */
  readonly #unfiltered = new Set<StateSubscriber>();
  readonly #byEntity = new Map<string, Set<StateSubscriber>>();
  readonly #bySource = new Map<string, Set<StateSubscriber>>();
  readonly #byMeter = new Map<string, Set<StateSubscriber>>();

  constructor(
    view: GatewayView,
    states: WeakMap<EntityState, Buffer>,
    encode: (s: EntityState, unit: string | null) => Buffer,
  ) {
    this.#view = view;
    this.#states = states;
    this.#encode = encode;
  }

  add(sub: StateSubscriber): void {
    if (this.#all.size === 0) this.#view.on("state", this.#onState);
    this.#all.add(sub);
    for (const [index, key] of this.#keys(sub)) {
      if (index === null) continue;
      const set = index.get(key) ?? new Set<StateSubscriber>();
      index.set(key, set);
      set.add(sub);
    }
    if (sub.filter.entityIds === null && sub.filter.sourceIds === null && sub.filter.meterIds === null)
      this.#unfiltered.add(sub);
  }

  remove(sub: StateSubscriber): void {
    if (!this.#all.delete(sub)) return;
    this.#unfiltered.delete(sub);
    for (const [index, key] of this.#keys(sub)) {
      const set = index?.get(key);
      set?.delete(sub);
      if (set?.size === 0) index?.delete(key);
    }
    if (this.#all.size === 0) this.#view.off("state", this.#onState);
  }

  /** Where a call is indexed: under each id of its most selective filter field. */
  *#keys(sub: StateSubscriber): Iterable<[Map<string, Set<StateSubscriber>> | null, string]> {
    const { entityIds, sourceIds, meterIds } = sub.filter;
    const [index, ids] =
      entityIds !== null
        ? [this.#byEntity, entityIds]
        : sourceIds !== null
          ? [this.#bySource, sourceIds]
          : meterIds !== null
            ? [this.#byMeter, meterIds]
            : [null, new Set<string>()];
    for (const id of ids) yield [index, id];
  }

  readonly #onState = (s: EntityState, info: EntityInfo): void => {
    for (const sub of this.#unfiltered) this.#deliver(sub, s, info);
    const byEntity = this.#byEntity.get(s.entityId);
    if (byEntity !== undefined) for (const sub of byEntity) this.#deliver(sub, s, info);
    const bySource = this.#bySource.get(info.sourceId);
    if (bySource !== undefined) for (const sub of bySource) this.#deliver(sub, s, info);
    const byMeter = this.#byMeter.get(info.meter.id);
    if (byMeter !== undefined) for (const sub of byMeter) this.#deliver(sub, s, info);
  };

  #deliver(sub: StateSubscriber, s: EntityState, info: EntityInfo): void {
    // The gateway announces entities before their first state, so a new meter's states match at once.
    if (!matches(sub.filter, s.entityId, info)) return;
    if (!this.#states.has(s)) {
      try {
        this.#states.set(s, this.#encode(s, info.unit));
      } catch (e) {
        // A state that does not encode (a bug) ends the calls it was for; the emitter never sees it.
        sub.session.fail(e);
        return;
      }
    }
    sub.session.push(s);
  }
}

function streamStates(ctx: ServerContext, call: grpc.ServerWritableStream<unknown, PbEntityState>): void {
  let filter: StateFilter;
  try {
    filter = {
      entityIds: readIds(call.request, "entity_ids", SLUG_ID_RE),
      meterIds: readIds(call.request, "meter_ids", SLUG_ID_RE),
      sourceIds: readIds(call.request, "source_ids", SOURCE_ID_RE),
    };
  } catch (e) {
    if (isInternalError(e)) ctx.reportInternal(e);
    call.emit("error", toGrpcStatus(e));
    return;
  }
  const { view } = ctx;
  const toMessage = (s: EntityState): Buffer => {
    let message = ctx.states.get(s); // states from the fan-out come encoded, the snapshot's do not
    if (message === undefined) {
      message = ctx.encodeState(s, view.entity(s.entityId)?.unit ?? null);
      ctx.states.set(s, message);
    }
    return message;
  };
  const session = new StreamSession<EntityState>(call, ctx, toMessage, (s) => s.entityId);
  const subscriber: StateSubscriber = { filter, session };
  session.start(() => {
    // Snapshot and subscription in one synchronous step: no state can slip in between.
    const lookup = needsInfo(filter);
    for (const s of candidateStates(view, filter)) {
      if (session.closed) break;
      if (matches(filter, s.entityId, lookup ? view.entity(s.entityId) : undefined)) session.push(s);
    }
    ctx.stateFanout.add(subscriber);
    return () => ctx.stateFanout.remove(subscriber);
  });
}

function streamTelegrams(ctx: ServerContext, call: grpc.ServerWritableStream<unknown, PbTelegram>): void {
  let sourceIds: ReadonlySet<string> | null;
  try {
    sourceIds = readIds(call.request, "source_ids", SOURCE_ID_RE);
  } catch (e) {
    if (isInternalError(e)) ctx.reportInternal(e);
    call.emit("error", toGrpcStatus(e));
    return;
  }
  const { view, telegrams } = ctx;
  const toMessage = (t: TelegramEvent): Buffer => {
    let message = telegrams.get(t);
    if (message === undefined) {
      message = ctx.encodeTelegram(toTelegram(t));
      telegrams.set(t, message);
    }
    return message;
  };
  const session = new StreamSession<TelegramEvent>(call, ctx, toMessage, null);
  const onTelegram = (t: TelegramEvent): void => {
    if (sourceIds === null || sourceIds.has(t.sourceId)) session.push(t);
  };
  session.start(() => {
    view.on("telegram", onTelegram);
    return () => view.off("telegram", onTelegram);
  });
}

// ---- Authentication: one server interceptor, so no service (health, reflection) can be forgotten ----

const BEARER_RE = /^Bearer (\S+)$/i;

function digest(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/**
 * A server interceptor that ends every call without `authorization: Bearer <token>` with UNAUTHENTICATED
 * before any handler runs. The comparison runs over SHA-256 digests with timingSafeEqual: constant time,
 * and the token's length does not show either. The token offered is never echoed or logged.
 */
function tokenInterceptor(token: Uint8Array, logger: Logger): grpc.ServerInterceptor {
  const expected = digest(token);
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const values = metadata.get("authorization");
        const match = values.length === 1 && typeof values[0] === "string" ? BEARER_RE.exec(values[0]) : null;
        const offered = match?.[1];
        const valid =
          offered !== undefined && timingSafeEqual(digest(Buffer.from(offered, "utf8")), expected);
        if (valid) {
          next(metadata);
          return;
        }
        const why = offered === undefined ? "no bearer token" : "a wrong token";
        // The peer's port differs per connection; without it, repeated attempts collapse in the log.
        const peer = call.getPeer().replace(/:\d+$/, "");
        logger.warn(`gRPC call ${method.path} from ${peer} refused: ${why}`);
        call.sendStatus({
          code: grpc.status.UNAUTHENTICATED,
          details:
            offered === undefined
              ? "this gateway requires a token: send the metadata authorization: Bearer <token>"
              : "invalid token",
          metadata: new grpc.Metadata(),
        });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

function serverCredentials(tls: GrpcTlsOptions | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== undefined,
  );
}

// ---- Server ----

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function checkOptions(options: GrpcServerOptions): number {
  const { port, maxQueuePerClient = DEFAULT_MAX_QUEUE_PER_CLIENT } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new P1Error("CONFIG_INVALID", `grpc port must be an integer 0-65535, got ${port}`, { key: "port" });
  }
  if (!Number.isInteger(maxQueuePerClient) || maxQueuePerClient < 1) {
    throw new P1Error(
      "CONFIG_INVALID",
      `maxQueuePerClient must be a positive integer, got ${maxQueuePerClient}`,
      { key: "maxQueuePerClient" },
    );
  }
  return maxQueuePerClient;
}

/**
 * Serves `view` over gRPC (service p1gateway.v1.Gateway, plus grpc.health.v1.Health and server
 * reflection) on host:port. Resolves once the port is bound.
 */
export async function startGrpcServer(view: GatewayView, options: GrpcServerOptions): Promise<GrpcServer> {
  const maxQueue = checkOptions(options);
  const logger = options.logger ?? silentLogger;
  const pkg = loadGatewayPackage();
  const service = gatewayServiceDefinition(pkg);
  const telegramMethod = service.StreamTelegrams as grpc.MethodDefinition<unknown, PbTelegram>;
  let unbatchedReported = false;
  const states = new WeakMap<EntityState, Buffer>();
  const ctx: ServerContext = {
    view,
    maxQueue,
    streams: new Set(),
    telegrams: new WeakMap(),
    states,
    stateFanout: new StateFanout(view, states, encodeEntityState),
    encodeState: encodeEntityState,
    encodeTelegram: (m) => telegramMethod.responseSerialize(m),
    reportInternal: (e) =>
      logger.error(
        `internal error in a gRPC handler: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      ),
    reportUnbatched: () => {
      if (unbatchedReported) return;
      unbatchedReported = true;
      logger.warn(
        "this grpc-js version lacks the internals batched writes use: streams send one message a turn",
      );
    },
  };

  const server = new grpc.Server(
    options.token === undefined ? {} : { interceptors: [tokenInterceptor(options.token, logger)] },
  );
  const handlers: grpc.UntypedServiceImplementation = {
    GetInfo: (_call: grpc.ServerUnaryCall<unknown, PbGatewayInfo>, cb: grpc.sendUnaryData<PbGatewayInfo>) =>
      getInfo(ctx, cb),
    ListEntities: (
      _call: grpc.ServerUnaryCall<unknown, PbListEntitiesResponse>,
      cb: grpc.sendUnaryData<PbListEntitiesResponse>,
    ) => listEntities(ctx, cb),
    StreamStates: (call: grpc.ServerWritableStream<unknown, PbEntityState>) => streamStates(ctx, call),
    StreamTelegrams: (call: grpc.ServerWritableStream<unknown, PbTelegram>) => streamTelegrams(ctx, call),
    GetDiagnostics: (
      _call: grpc.ServerUnaryCall<unknown, PbDiagnostics>,
      cb: grpc.sendUnaryData<PbDiagnostics>,
    ) => {
      let reply: PbDiagnostics;
      try {
        reply = toDiagnostics(view.info(), options.diagnostics, Date.now());
      } catch (e) {
        if (isInternalError(e)) ctx.reportInternal(e);
        cb(toGrpcStatus(e));
        return;
      }
      cb(null, reply);
    },
  };
  server.addService(sharingEncodings(service), handlers);
  const health = new HealthImplementation({ "": "SERVING", [GATEWAY_SERVICE]: "SERVING" });
  health.addToServer(server);
  new ReflectionService(reflectionPackage()).addToServer(server);

  const host = formatHost(options.host);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, serverCredentials(options.tls), (err, bound) => {
      if (err)
        reject(
          new Error(`gRPC server cannot listen on ${host}:${options.port}: ${err.message}`, { cause: err }),
        );
      else resolve(bound);
    });
  });

  const security = [
    options.tls ? (options.tls.clientCa ? "TLS, client certificates required" : "TLS") : "plaintext",
    ...(options.token ? ["token required"] : []),
  ];
  logger.info(`gRPC API listening on ${host}:${port} (${security.join(", ")})`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(GATEWAY_SERVICE, "NOT_SERVING");
      for (const session of [...ctx.streams]) session.end(shutdownStatus());
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return stopping;
  };

  return {
    port,
    address: `${host}:${port}`,
    queuedMessages: () => {
      let n = 0;
      for (const session of ctx.streams) n += session.queued;
      return n;
    },
    stop,
  };
}
