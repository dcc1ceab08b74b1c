import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { GATEWAY_PROTO_FILE, PROTO_ROOT } from "../../src/api/grpc/index.ts";

// Test clients load the .proto themselves, as a third-party client would; they share no code with the
// server's loading beyond the file's location.
const LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

// Each client gets its own HTTP/2 connection: grpc-js otherwise shares one per target, and a client
// that stops reading would then hold back the connection-level window of every other test client.
const CHANNEL_OPTIONS: grpc.ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

/** How a test client connects: channel credentials (default plaintext) and what it sends as authorization. */
export interface ClientSecurity {
  readonly credentials?: grpc.ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** Sent verbatim as the authorization metadata (malformed headers); wins over `token`. */
  readonly authorization?: string;
}

/** A grpc-js client for `address` with `security` applied to every call through a client interceptor. */
function makeClient(address: string, security: ClientSecurity = {}): grpc.Client {
  const header =
    security.authorization ?? (security.token === undefined ? undefined : `Bearer ${security.token}`);
  const interceptors: grpc.Interceptor[] =
    header === undefined
      ? []
      : [
          (options, nextCall) =>
            new grpc.InterceptingCall(nextCall(options), {
              start(metadata, listener, next) {
                metadata.set("authorization", header);
                next(metadata, listener);
              },
            }),
        ];
  return new grpc.Client(address, security.credentials ?? grpc.credentials.createInsecure(), {
    ...CHANNEL_OPTIONS,
    interceptors,
  });
}

// ---- Messages as a client decodes them (defaults filled in, oneof case named) ----

/** google.protobuf.Timestamp. */
export interface TimestampMsg {
  readonly seconds: number;
  readonly nanos: number;
}

/** p1gateway.v1.Counters. */
export interface CountersMsg {
  readonly telegrams_ok: number;
  readonly telegrams_dropped: Readonly<Record<string, number>>;
  readonly bytes: number;
  readonly skipped_bytes: number;
  readonly reconnects: number;
  readonly open_failures: number;
  readonly fanout_readers: number;
  readonly fanout_cut_off: number;
  readonly anomalies: number;
  readonly coalesced: number;
  readonly clients: number;
}

/** p1gateway.v1.Meter. */
export interface MeterMsg {
  readonly id: string;
  readonly source_id: string;
  readonly type: string;
  readonly channel: number;
  readonly equipment_id: string;
}

/** p1gateway.v1.Source. */
export interface SourceMsg {
  readonly id: string;
  readonly description: string;
  readonly link_state: string;
  readonly protocol_version: string;
  readonly encrypted: boolean;
  readonly meters: readonly MeterMsg[];
  readonly counters: CountersMsg;
  readonly last_telegram_time: TimestampMsg | null;
}

/** p1gateway.v1.GatewayInfo. */
export interface GatewayInfoMsg {
  readonly name: string;
  readonly version: string;
  readonly started_time: TimestampMsg | null;
  readonly sources: readonly SourceMsg[];
  readonly counters: CountersMsg;
}

/** p1gateway.v1.Entity. */
export interface EntityMsg {
  readonly id: string;
  readonly name: string;
  readonly meter: MeterMsg;
  readonly obis: string;
  readonly unit: string;
  readonly device_class: string;
  readonly state_class: string;
  readonly channel_name: string;
  readonly kind: string;
  readonly diagnostic: boolean;
  readonly decimals: number;
  readonly source_id: string;
}

/** p1gateway.v1.EntityState. */
export interface EntityStateMsg {
  readonly entity_id: string;
  readonly value?: "number" | "text";
  readonly number?: number;
  readonly text?: string;
  readonly raw: string;
  readonly meter_time: TimestampMsg | null;
  readonly meter_time_iso: string;
  readonly received_time: TimestampMsg | null;
  readonly available: boolean;
  readonly unit: string;
}

/** p1gateway.v1.MeterTime. */
export interface MeterTimeMsg {
  readonly time: TimestampMsg | null;
  readonly iso: string;
  readonly raw: string;
}

/** p1gateway.v1.CosemObject. */
export interface CosemObjectMsg {
  readonly obis: string;
  readonly key: string;
  readonly channel: number;
  readonly channel_name: string;
  readonly name: string;
  readonly unit: string;
  readonly value?: string;
  readonly number?: number;
  readonly text?: string;
  readonly timestamp?: MeterTimeMsg;
  readonly power_failure_log?: {
    readonly entries: readonly { readonly end_time: MeterTimeMsg; readonly duration_s: number }[];
  };
  readonly peak_demand_history?: {
    readonly entries: readonly {
      readonly month: MeterTimeMsg;
      readonly time: MeterTimeMsg;
      readonly value: number;
      readonly raw: string;
      readonly unit: string;
    }[];
  };
  readonly raw_groups?: { readonly groups: readonly string[] };
  readonly raw: string;
  readonly reading_time: MeterTimeMsg | null;
}

/** p1gateway.v1.Telegram. */
export interface TelegramMsg {
  readonly source_id: string;
  readonly raw: Buffer;
  readonly received_time: TimestampMsg | null;
  readonly version: string;
  readonly header: string;
  readonly crc: string;
  readonly encrypted: boolean;
  readonly objects: readonly CosemObjectMsg[];
  readonly unknown_obis: readonly string[];
  readonly warnings: readonly string[];
}

/** Filters of StreamStates. */
export interface StreamStatesRequestMsg {
  readonly entity_ids?: readonly string[];
  readonly meter_ids?: readonly string[];
  readonly source_ids?: readonly string[];
}

// ---- Loading ----

type MethodDef = protoLoader.MethodDefinition<object, object>;

function methodOf(pkg: protoLoader.PackageDefinition, service: string, method: string): MethodDef {
  const def = pkg[service];
  if (def === undefined || "format" in def) throw new Error(`no service ${service}`);
  const m = (def as protoLoader.ServiceDefinition)[method];
  if (m === undefined) throw new Error(`no method ${service}.${method}`);
  return m;
}

/** Narrows a decoded message: proto-loader returns plain objects; the interfaces above name their fields. */
function asMessage<T>(value: unknown): T {
  if (typeof value !== "object" || value === null) throw new Error("decoded message is not an object");
  return value as T;
}

const gatewayPackage = protoLoader.loadSync(GATEWAY_PROTO_FILE, {
  ...LOAD_OPTIONS,
  includeDirs: [PROTO_ROOT],
});

function unary<Res>(client: grpc.Client, def: MethodDef, request: object): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      (b: Buffer) => asMessage<Res>(def.responseDeserialize(b)),
      request,
      { deadline: Date.now() + 10_000 },
      (err, value) => {
        if (err) reject(err);
        else if (value === undefined) reject(new Error(`${def.path}: empty response`));
        else resolve(value);
      },
    );
  });
}

/** A typed client of p1gateway.v1.Gateway, for tests. */
export class GatewayTestClient {
  readonly raw: grpc.Client;
  readonly #methods = {
    getInfo: methodOf(gatewayPackage, "p1gateway.v1.Gateway", "GetInfo"),
    listEntities: methodOf(gatewayPackage, "p1gateway.v1.Gateway", "ListEntities"),
    streamStates: methodOf(gatewayPackage, "p1gateway.v1.Gateway", "StreamStates"),
    streamTelegrams: methodOf(gatewayPackage, "p1gateway.v1.Gateway", "StreamTelegrams"),
  };

  constructor(address: string, security?: ClientSecurity) {
    this.raw = makeClient(address, security);
  }

  getInfo(): Promise<GatewayInfoMsg> {
    return unary<GatewayInfoMsg>(this.raw, this.#methods.getInfo, {});
  }

  async listEntities(): Promise<readonly EntityMsg[]> {
    const res = await unary<{ entities: EntityMsg[] }>(this.raw, this.#methods.listEntities, {});
    return res.entities;
  }

  streamStates(request: StreamStatesRequestMsg = {}): grpc.ClientReadableStream<EntityStateMsg> {
    const def = this.#methods.streamStates;
    return this.raw.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      (b: Buffer) => asMessage<EntityStateMsg>(def.responseDeserialize(b)),
      request,
    );
  }

  streamTelegrams(sourceIds: readonly string[] = []): grpc.ClientReadableStream<TelegramMsg> {
    const def = this.#methods.streamTelegrams;
    return this.raw.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      (b: Buffer) => asMessage<TelegramMsg>(def.responseDeserialize(b)),
      { source_ids: sourceIds },
    );
  }

  close(): void {
    this.raw.close();
  }
}

// ---- Standard services: health and reflection, through their own published .proto files ----

const healthPackage = protoLoader.loadSync(healthProtoPath, LOAD_OPTIONS);
const HEALTH_CHECK = methodOf(healthPackage, "grpc.health.v1.Health", "Check");
const HEALTH_WATCH = methodOf(healthPackage, "grpc.health.v1.Health", "Watch");

/** grpc.health.v1.HealthCheckResponse. */
export interface HealthResponseMsg {
  readonly status: string;
}

/** A grpc.health.v1.Health client. */
export class HealthTestClient {
  readonly raw: grpc.Client;

  constructor(address: string, security?: ClientSecurity) {
    this.raw = makeClient(address, security);
  }

  /** Check(service): the status name ("SERVING", "NOT_SERVING"). */
  async check(service: string): Promise<string> {
    return (await unary<HealthResponseMsg>(this.raw, HEALTH_CHECK, { service })).status;
  }

  /** Watch(service): a stream of statuses. */
  watch(service: string): grpc.ClientReadableStream<HealthResponseMsg> {
    return this.raw.makeServerStreamRequest(
      HEALTH_WATCH.path,
      HEALTH_WATCH.requestSerialize,
      (b: Buffer) => asMessage<HealthResponseMsg>(HEALTH_WATCH.responseDeserialize(b)),
      { service },
    );
  }

  close(): void {
    this.raw.close();
  }
}

const require = createRequire(import.meta.url);
const REFLECTION_PROTO_ROOT = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto");
/** Reflection protocol versions: grpcurl and most tools try v1, then fall back to v1alpha. */
export type ReflectionVersion = "v1" | "v1alpha";

function reflectionMethod(version: ReflectionVersion): MethodDef {
  const pkg = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    ...LOAD_OPTIONS,
    includeDirs: [REFLECTION_PROTO_ROOT],
  });
  return methodOf(pkg, `grpc.reflection.${version}.ServerReflection`, "ServerReflectionInfo");
}

/** grpc.reflection.*.ServerReflectionResponse, the parts the tests read (same in v1 and v1alpha). */
export interface ReflectionResponseMsg {
  readonly message_response?: string;
  readonly list_services_response?: { readonly service: readonly { readonly name: string }[] };
  readonly file_descriptor_response?: { readonly file_descriptor_proto: readonly Buffer[] };
  readonly error_response?: { readonly error_code: number; readonly error_message: string };
}

/** A ServerReflection client (v1 or v1alpha): one request, one response, over the real protocol. */
export class ReflectionTestClient {
  readonly raw: grpc.Client;
  readonly #method: MethodDef;

  constructor(address: string, version: ReflectionVersion = "v1", security?: ClientSecurity) {
    this.raw = makeClient(address, security);
    this.#method = reflectionMethod(version);
  }

  /** Sends one ServerReflectionRequest (e.g. `{ list_services: "*" }`) and returns the response. */
  ask(request: object): Promise<ReflectionResponseMsg> {
    return new Promise((resolve, reject) => {
      const method = this.#method;
      const call = this.raw.makeBidiStreamRequest(
        method.path,
        method.requestSerialize,
        (b: Buffer) => asMessage<ReflectionResponseMsg>(method.responseDeserialize(b)),
        { deadline: Date.now() + 10_000 },
      );
      call.once("data", (res: ReflectionResponseMsg) => {
        resolve(res);
        call.end();
      });
      call.once("error", reject);
      call.write(request);
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Collects a stream's messages; `next(n)` resolves once n more have arrived (bounded by a timeout). */
export class Collector<T> {
  readonly items: T[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];
  error: (Error & { code?: number; details?: string }) | null = null;

  constructor(stream: grpc.ClientReadableStream<T>) {
    stream.on("data", (item: T) => {
      this.items.push(item);
      this.#wake();
    });
    stream.on("error", (e: Error) => {
      this.error = e;
      this.#wake();
    });
  }

  /** Resolves when `predicate(items)` holds, rejects after `timeoutMs` or on a stream error. */
  until(predicate: (items: readonly T[]) => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (predicate(this.items)) {
          resolve();
          return true;
        }
        if (this.error !== null && this.error.code !== grpc.status.CANCELLED) {
          reject(this.error);
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms with ${this.items.length} messages`));
      }, timeoutMs);
      const waiter = {
        count: 0,
        resolve: () => {
          if (check()) {
            clearTimeout(timer);
            this.#waiters = this.#waiters.filter((w) => w !== waiter);
          }
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves once the stream holds at least `n` messages. */
  count(n: number, timeoutMs?: number): Promise<void> {
    return this.until((items) => items.length >= n, timeoutMs);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w.resolve();
  }
}

/** Resolves when the call's response headers arrive: the server has subscribed the stream. */
export function subscribed(call: grpc.ClientReadableStream<unknown>, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no response headers")), timeoutMs);
    call.once("metadata", () => {
      clearTimeout(timer);
      resolve();
    });
    call.once("error", (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves with the status error a stream ends with (rejects if it ends cleanly or times out). */
export function streamError(
  call: grpc.ClientReadableStream<unknown>,
  timeoutMs = 10_000,
): Promise<grpc.ServiceError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stream did not fail")), timeoutMs);
    call.on("data", () => {});
    call.once("error", (e: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve(e);
    });
    call.once("end", () => {
      clearTimeout(timer);
      reject(new Error("stream ended without an error"));
    });
  });
}
