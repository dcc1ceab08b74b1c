import { createServer, type Socket } from "node:net";
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
 * Serves `view` as an ESPHome device over the native API (docs/esphome-native-api.md): plaintext,
 * or Noise-encrypted when `encryptionKey` is set. Resolves once the port is bound.
 */
export async function startNativeApiServer(
  view: GatewayView,
  options: NativeApiServerOptions,
): Promise<NativeApiServer> {
  checkOptions(options);
  const logger = options.logger ?? silentLogger;
  const mac = formatMac(options.mac);
  const now = options.now ?? Date.now;
  const catalog = new Catalog(view);
  const connections = new Set<NativeConnection>();
  const psk = options.encryptionKey === undefined ? null : Buffer.from(options.encryptionKey);
  let stopping: Promise<void> | undefined;
  // Link states of the view's sources, followed only while a client is connected (see attach()).
  let links = new Map<string, LinkState>();

  const ctx: ConnectionContext = {
    view,
    logger,
    entities: () => catalog.all(),
    linkOf: (id) => links.get(id),
    hello: {
      serverInfo: `p1-gateway ${options.projectVersion}`.slice(0, MAX_SERVER_INFO),
      name: options.name,
    },
    deviceInfo: {
      name: options.name,
      // HA names the device after friendly_name (and logs a hint when it is empty).
      friendly_name: options.friendlyName ?? options.name,
      mac_address: mac,
      esphome_version: ESPHOME_VERSION,
      model: options.model,
      manufacturer: MANUFACTURER,
      project_name: PROJECT_NAME,
      project_version: options.projectVersion,
      // The flag tells Home Assistant it may push a new key (messages 124/125), which is not implemented:
      // with a configured key HA already holds it, so nothing is lost by saying false.
      api_encryption_supported: false,
    },
    keepaliveMs: options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    maxQueue: options.maxQueuePerClient ?? DEFAULT_MAX_QUEUE,
    now,
    onClose: (c) => {
      connections.delete(c);
      if (connections.size === 0) detach();
    },
  };

  const entitiesChanged = (reason: string): void => {
    // Rebuilding the table costs O(entities): with no client holding a listing (a client between hello
    // and its listing), dropping it is enough; the next listing builds it once.
    if (![...connections].some((c) => c.listedKeys !== null)) {
      catalog.invalidate();
      return;
    }
    if (!catalog.refresh()) return;
    // ESPHome has no "entity added" message: clients that listed the old set reconnect and list again.
    for (const c of connections) if (c.listedKeys !== null) c.requestDisconnect(reason);
  };
  const onEntities = (): void => entitiesChanged("entities changed");
  const onState = (s: EntityState): void => {
    const e = catalog.byEntity(s.entityId);
    if (e === undefined) return;
    const m = entityStateMessage(e, s);
    for (const c of connections) c.sendState(m);
  };
  const onLink = (sourceId: string, state: LinkState): void => {
    links.set(sourceId, state);
    let e = catalog.bySource(sourceId);
    if (e === undefined) {
      entitiesChanged(`new source ${sourceId}`);
      e = catalog.bySource(sourceId);
      if (e === undefined) return;
    }
    const m = linkStateMessage(e.key, state);
    for (const c of connections) c.sendState(m);
  };

  // A device nobody is connected to follows nothing and holds no entity table: a gateway of thousands
  // of meters has thousands of devices, mostly without a client, and each would otherwise cost an
  // entity table and three listeners called for every state, link and entity event. The first client
  // takes the view's state as it is then; the last one to leave lets go of it.
  let attached = false;
  const attach = (): void => {
    if (attached) return;
    attached = true;
    links = new Map(view.info().sources.map((s) => [s.id, s.link]));
    catalog.invalidate();
    view.on("entities", onEntities);
    view.on("state", onState);
    view.on("link", onLink);
  };
  function detach(): void {
    if (!attached) return;
    attached = false;
    view.off("entities", onEntities);
    view.off("state", onState);
    view.off("link", onLink);
    catalog.invalidate();
    links = new Map();
  }

  const onConnection = (socket: Socket): void => {
    const identity = { name: options.name, mac };
    const codec = psk === null ? new PlaintextCodec() : new NoiseCodec(psk, identity);
    // Accepted just as stop() began: it would follow the view again after stop let go of it.
    if (stopping !== undefined) {
      socket.destroy();
      return;
    }
    attach();
    connections.add(new NativeConnection(socket, codec, ctx));
  };
  const server = createServer(onConnection);
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (e: Error): void =>
      reject(
        new Error(`native API cannot listen on ${options.host}:${options.port}: ${e.message}`, { cause: e }),
      );
    server.once("error", onError);
    server.listen(options.port, options.host, () => {
      server.off("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : options.port);
    });
  });
  server.on("error", (e) => logger.error(`native API listener: ${e.message}`));
  logger.info(`native API listening on ${options.host}:${port}${psk === null ? "" : " (Noise)"}`);

  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      detach();
      for (const c of connections) c.requestDisconnect("server stopping");
      const timer = setTimeout(() => {
        for (const c of [...connections]) c.close();
      }, STOP_GRACE_MS);
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return stopping;
  };

  return { port, connections: () => connections.size, stop };
}
