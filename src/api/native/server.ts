import { createServer, type Server, type Socket } from "node:net";
import type { EntityState, GatewayView, LinkState } from "../../gateway/types.ts";
import { type Logger, P1Error, silentLogger } from "../../shared/index.ts";
import { type ConnectionContext, NativeConnection } from "./connection.ts";
import { buildNativeEntities, entityStateMessage, linkStateMessage, type NativeEntity } from "./entities.ts";
import { PlaintextCodec } from "./frame.ts";
import { NOISE_PSK_BYTES, NoiseCodec } from "./noise.ts";

/** ESPHome's default API port. */
export const DEFAULT_NATIVE_API_PORT = 6053;
/** Reported as esphome_version: Home Assistant runs firmware checks on it, a real version is safest (§2.2). */
export const ESPHOME_VERSION = "2025.11.0";
/** DeviceInfoResponse.manufacturer. */
export const MANUFACTURER = "p1-gateway";
/** DeviceInfoResponse.project_name, `author.project` by convention. */
export const PROJECT_NAME = "p1-gateway.gateway";
/** Firmware pings after 60 s without traffic and drops the client at 150 s (§4). */
export const DEFAULT_KEEPALIVE_MS = 60_000;
/** Ordered messages held back per client that does not read (states beyond it coalesce per key). */
export const DEFAULT_MAX_QUEUE = 1_024;
// Firmware limits (§2.2): hostname ≤ 31, server_info ≤ 32.
const MAX_NAME = 31;
const MAX_SERVER_INFO = 32;
// Connections that do not close after a DisconnectRequest are destroyed after this on stop().
const STOP_GRACE_MS = 2_000;

/** Options of the native API server. */
export interface NativeApiServerOptions {
  readonly host: string;
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  /** Device hostname (HelloResponse.name, mDNS instance), ≤ 31 characters. */
  readonly name: string;
  readonly friendlyName?: string;
  /** MAC as 12 hex digits, with or without separators; must equal the mDNS `mac` TXT record. */
  readonly mac: string;
  readonly model: string;
  readonly projectVersion: string;
  /** 32-byte Noise PSK; when set, only encrypted clients are accepted. */
  readonly encryptionKey?: Buffer;
  readonly logger?: Logger;
  /** Keepalive (default 60 s): ping after this long idle, drop after 2.5×; also the hello timeout. */
  readonly keepaliveMs?: number;
  readonly maxQueuePerClient?: number;
  /** Clock for GetTimeResponse and keepalive (default Date.now). */
  readonly now?: () => number;
}

/** A running native API server. */
export interface NativeApiServer {
  /** The bound port (the real one when the options asked for 0). */
  readonly port: number;
  /** Connections open now. */
  connections(): number;
  /** Asks every client to disconnect, closes the listener and every socket; idempotent. */
  stop(): Promise<void>;
}

/** MAC as `AA:BB:CC:DD:EE:FF` (DeviceInfoResponse, §2.2); throws CONFIG_INVALID unless 12 hex digits. */
export function formatMac(mac: string): string {
  const hex = mac.replace(/[:\-.]/g, "");
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) {
    throw new P1Error("CONFIG_INVALID", `mac must be 12 hex digits, got "${mac}"`, { key: "mac" });
  }
  return (hex.toUpperCase().match(/../g) as string[]).join(":");
}

function checkOptions(o: NativeApiServerOptions): void {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535) {
    throw new P1Error("CONFIG_INVALID", `native API port must be an integer 0-65535, got ${o.port}`, {
      key: "port",
    });
  }
  if (o.name.length === 0 || o.name.length > MAX_NAME) {
    throw new P1Error("CONFIG_INVALID", `device name must be 1-${MAX_NAME} characters, got "${o.name}"`, {
      key: "name",
    });
  }
  if (o.encryptionKey !== undefined && o.encryptionKey.length !== NOISE_PSK_BYTES) {
    throw new P1Error(
      "CONFIG_INVALID",
      `encryption key must be ${NOISE_PSK_BYTES} bytes, got ${o.encryptionKey.length}`,
      { key: "encryptionKey" },
    );
  }
}

/** One build of the device's entity table, with its lookups. */
interface Table {
  readonly list: readonly NativeEntity[];
  readonly byEntity: ReadonlyMap<string, NativeEntity>;
  readonly bySource: ReadonlyMap<string, NativeEntity>;
}

/** The device's entity table, built on first use and dropped after 'entities' events and new sources. */
class Catalog {
  #table: Table | null = null;
  readonly #view: GatewayView;

  constructor(view: GatewayView) {
    this.#view = view;
  }

  all(): readonly NativeEntity[] {
    return this.#built().list;
  }

  byEntity(id: string): NativeEntity | undefined {
    return this.#built().byEntity.get(id);
  }

  bySource(id: string): NativeEntity | undefined {
    return this.#built().bySource.get(id);
  }

  /** Drops the table; the next use rebuilds it. */
  invalidate(): void {
    this.#table = null;
  }

  /** Rebuilds; true when the set of keys changed. */
  refresh(): boolean {
    const before = (this.#table?.list ?? []).map((e) => e.key).join(",");
    this.#table = null;
    return (
      this.all()
        .map((e) => e.key)
        .join(",") !== before
    );
  }

  #built(): Table {
    if (this.#table !== null) return this.#table;
    const list = buildNativeEntities(this.#view.entities(), this.#view.info().sources);
    const byEntity = new Map<string, NativeEntity>();
    const bySource = new Map<string, NativeEntity>();
    for (const e of list) {
      if (e.source.kind === "entity") byEntity.set(e.source.entity.id, e);
      else bySource.set(e.source.sourceId, e);
    }
    this.#table = { list, byEntity, bySource };
    return this.#table;
  }
}

/**
 * One device: its listener, its connections and, while a client is connected, what follows the view.
 * It is its connections' context too. A class, not closures: a gateway of thousands of meters has
 * thousands of devices, and each closure costs (more so under tsx, which names every one).
 */
class NativeDevice implements ConnectionContext, NativeApiServer {
  readonly view: GatewayView;
  readonly logger: Logger;
  readonly hello: ConnectionContext["hello"];
  readonly deviceInfo: ConnectionContext["deviceInfo"];
  readonly keepaliveMs: number;
  readonly maxQueue: number;
  readonly now: () => number;
  port = 0;
  readonly #options: NativeApiServerOptions;
  readonly #mac: string;
  readonly #psk: Buffer | null;
  readonly #catalog: Catalog;
  readonly #connections = new Set<NativeConnection>();
  readonly #server: Server;
  #stopping: Promise<void> | undefined;
  /** Link states of the view's sources, followed only while a client is connected (see #attach). */
  #links = new Map<string, LinkState>();
  /** The view listeners while attached. */
  #listeners: {
    readonly entities: () => void;
    readonly state: (s: EntityState) => void;
    readonly link: (sourceId: string, state: LinkState) => void;
  } | null = null;

  constructor(view: GatewayView, options: NativeApiServerOptions) {
    this.view = view;
    this.logger = options.logger ?? silentLogger;
    this.#options = options;
    this.#mac = formatMac(options.mac);
    this.now = options.now ?? Date.now;
    this.#catalog = new Catalog(view);
    this.#psk = options.encryptionKey === undefined ? null : Buffer.from(options.encryptionKey);
    this.hello = {
      serverInfo: `p1-gateway ${options.projectVersion}`.slice(0, MAX_SERVER_INFO),
      name: options.name,
    };
    this.deviceInfo = {
      name: options.name,
      // HA names the device after friendly_name (and logs a hint when it is empty).
      friendly_name: options.friendlyName ?? options.name,
      mac_address: this.#mac,
      esphome_version: ESPHOME_VERSION,
      model: options.model,
      manufacturer: MANUFACTURER,
      project_name: PROJECT_NAME,
      project_version: options.projectVersion,
      // The flag tells Home Assistant it may push a new key (messages 124/125), which is not implemented:
      // with a configured key HA already holds it, so nothing is lost by saying false.
      api_encryption_supported: false,
    };
    this.keepaliveMs = options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    this.maxQueue = options.maxQueuePerClient ?? DEFAULT_MAX_QUEUE;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /** Binds the port; resolves once listening. */
  async listen(): Promise<void> {
    const { host, port } = this.#options;
    const server = this.#server;
    this.port = await new Promise<number>((resolve, reject) => {
      const onError = (e: Error): void =>
        reject(new Error(`native API cannot listen on ${host}:${port}: ${e.message}`, { cause: e }));
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : port);
      });
    });
    server.on("error", (e) => this.logger.error(`native API listener: ${e.message}`));
    this.logger.info(`native API listening on ${host}:${this.port}${this.#psk === null ? "" : " (Noise)"}`);
  }

  // ---- ConnectionContext ----

  entities(): readonly NativeEntity[] {
    return this.#catalog.all();
  }

  linkOf(sourceId: string): LinkState | undefined {
    return this.#links.get(sourceId);
  }

  onClose(c: NativeConnection): void {
    this.#connections.delete(c);
    if (this.#connections.size === 0) this.#detach();
  }

  // ---- NativeApiServer ----

  connections(): number {
    return this.#connections.size;
  }

  stop(): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      this.#detach();
      for (const c of this.#connections) c.requestDisconnect("server stopping");
      const timer = setTimeout(() => {
        for (const c of [...this.#connections]) c.close();
      }, STOP_GRACE_MS);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.#stopping;
  }

  // ---- Connections and the view ----

  #accept(socket: Socket): void {
    // Accepted just as stop() began: it would follow the view again after stop let go of it.
    if (this.#stopping !== undefined) {
      socket.destroy();
      return;
    }
    const codec =
      this.#psk === null
        ? new PlaintextCodec()
        : new NoiseCodec(this.#psk, { name: this.#options.name, mac: this.#mac });
    this.#attach();
    this.#connections.add(new NativeConnection(socket, codec, this));
  }

  /**
   * A device nobody is connected to follows nothing and holds no entity table: a gateway of thousands
   * of meters has thousands of devices, mostly without a client, and each would otherwise cost an
   * entity table and three listeners called for every state, link and entity event. The first client
   * takes the view's state as it is then; the last one to leave lets go of it.
   */
  #attach(): void {
    if (this.#listeners !== null) return;
    this.#links = new Map(this.view.info().sources.map((s) => [s.id, s.link]));
    this.#catalog.invalidate();
    const listeners = {
      entities: this.#entitiesChanged.bind(this, "entities changed"),
      state: this.#onState.bind(this),
      link: this.#onLink.bind(this),
    };
    this.#listeners = listeners;
    this.view.on("entities", listeners.entities);
    this.view.on("state", listeners.state);
    this.view.on("link", listeners.link);
  }

  #detach(): void {
    const listeners = this.#listeners;
    if (listeners === null) return;
    this.#listeners = null;
    this.view.off("entities", listeners.entities);
    this.view.off("state", listeners.state);
    this.view.off("link", listeners.link);
    this.#catalog.invalidate();
    this.#links = new Map();
  }

  #entitiesChanged(reason: string): void {
    const connections = this.#connections;
    // Rebuilding the table costs O(entities): with no client holding a listing (a client between hello
    // and its listing), dropping it is enough; the next listing builds it once.
    if (![...connections].some((c) => c.listedKeys !== null)) {
      this.#catalog.invalidate();
      return;
    }
    if (!this.#catalog.refresh()) return;
    // ESPHome has no "entity added" message: clients that listed the old set reconnect and list again.
    for (const c of connections) if (c.listedKeys !== null) c.requestDisconnect(reason);
  }

  #onState(s: EntityState): void {
    const e = this.#catalog.byEntity(s.entityId);
    if (e === undefined) return;
    const m = entityStateMessage(e, s);
    for (const c of this.#connections) c.sendState(m);
  }

  #onLink(sourceId: string, state: LinkState): void {
    this.#links.set(sourceId, state);
    let e = this.#catalog.bySource(sourceId);
    if (e === undefined) {
      this.#entitiesChanged(`new source ${sourceId}`);
      e = this.#catalog.bySource(sourceId);
      if (e === undefined) return;
    }
    const m = linkStateMessage(e.key, state);
    for (const c of this.#connections) c.sendState(m);
  }
}

/**
 * Serves `view` as an ESPHome device over the native API (docs/esphome-native-api.md): plaintext,
 * or Noise-encrypted when `encryptionKey` is set. Resolves once the port is bound.
 */
export async function startNativeApiServer(
  view: GatewayView,
  options: NativeApiServerOptions,
): Promise<NativeApiServer> {
  checkOptions(options);
  const device = new NativeDevice(view, options);
  await device.listen();
  return device;
}
