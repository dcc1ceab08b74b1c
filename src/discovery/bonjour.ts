import type { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import type { Bonjour, Service, ServiceConfig } from "bonjour-service";
import { type Logger, P1Error, silentLogger } from "../shared/index.ts";
import type { MdnsResponder, MdnsService, PublishedService } from "./mdns.ts";

// bonjour-service (over multicast-dns) as the MdnsResponder, and its browser for `discover`.

/** Where mDNS runs: which interface it joins the group on and which addresses it puts in A records. */
export interface MdnsNetworkOptions {
  /**
   * IPv4 address or name (`eth0`) of the one interface to announce and browse on; unset = every
   * interface with an IPv4 address (multicast-dns' default).
   */
  readonly interface?: string | undefined;
  /** A records of announced hosts; unset = the chosen interface's IPv4 addresses, or every interface's. */
  readonly addresses?: readonly string[] | undefined;
  readonly logger?: Logger | undefined;
}

/** The interface's IPv4 address: `value` itself when it is one, else the named interface's first. */
export function resolveMdnsInterface(value: string): string {
  if (isIPv4(value)) return value;
  const found = networkInterfaces()[value]?.find((a) => a.family === "IPv4");
  if (found === undefined) {
    const names = Object.entries(networkInterfaces())
      .filter(([, list]) => list?.some((a) => a.family === "IPv4"))
      .map(([n]) => n);
    throw new P1Error(
      "CONFIG_INVALID",
      `mdnsInterface: no interface "${value}" with an IPv4 address (have: ${names.join(", ") || "none"})`,
      { key: "mdnsInterface" },
    );
  }
  return found.address;
}

/** The private multicast-dns socket wrapper bonjour-service keeps; its events are ours to handle. */
interface MulticastDns extends EventEmitter {}

/** multicast-dns options bonjour-service passes through (its typings name only ServiceConfig). */
interface MulticastDnsOptions {
  readonly interface?: string;
  readonly bind?: string;
}

/**
 * bonjour-service (with multicast-dns and dns-packet, ~30 ms to load) is loaded on first use only: a
 * gateway with mDNS off (the simulator's default, or `--no-mdns`) starts without it.
 */
let bonjourModule: typeof import("bonjour-service") | undefined;
function loadBonjour(): typeof import("bonjour-service") {
  bonjourModule ??= createRequire(import.meta.url)("bonjour-service") as typeof import("bonjour-service");
  return bonjourModule;
}

function bonjourFor(iface: string | undefined, logger: Logger): Bonjour {
  const { Bonjour } = loadBonjour();
  // multicast-dns binds to `interface` when no `bind` is given, and a socket bound to a unicast address
  // never receives the multicast queries: bind the wildcard, join (and send) on the chosen interface only.
  const socketOptions: MulticastDnsOptions = iface === undefined ? {} : { interface: iface, bind: "0.0.0.0" };
  const bonjour = new Bonjour(socketOptions as Partial<ServiceConfig>, (e: Error) =>
    logger.warn(`mDNS answer not sent: ${e.message}`),
  );
  // bonjour-service leaves socket errors (port 5353 taken, no multicast route) unhandled, which would
  // crash the process: the API still works without announcements, so log and go on.
  const mdns = (bonjour as unknown as { server: { mdns: MulticastDns } }).server.mdns;
  mdns.on("error", (e: Error) => logger.warn(`mDNS socket: ${e.message}`));
  mdns.on("warning", (e: Error) => logger.debug(`mDNS: ${e.message}`));
  return bonjour;
}

/** IPv4 addresses of the interface with address `iface`. */
function addressesOf(iface: string): string[] {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === iface))
    ? [iface]
    : [];
}

/** An MdnsResponder on bonjour-service: probes, announces, answers queries, sends goodbyes. */
export function createBonjourResponder(options: MdnsNetworkOptions = {}): MdnsResponder {
  const logger = options.logger ?? silentLogger;
  const iface = options.interface === undefined ? undefined : resolveMdnsInterface(options.interface);
  const bonjour = bonjourFor(iface, logger);
  const only = options.addresses ?? (iface === undefined ? undefined : addressesOf(iface));
  let destroyed: Promise<void> | undefined;
  return {
    publish(service: MdnsService): PublishedService {
      const published = bonjour.publish({
        name: service.name,
        type: service.type,
        protocol: "tcp",
        host: service.host,
        port: service.port,
        txt: { ...service.txt },
        // Home Assistant connects over IPv4 to the address it is given; link-local IPv6 only confuses it.
        disableIPv6: true,
      });
      if (only !== undefined) {
        // bonjour-service puts every interface's address in the A records; with a chosen interface or bind
        // address only those lead to the API. publish() probes before it announces (asynchronously), so the
        // records are narrowed before the first packet, and the goodbye uses the same list.
        const all = published.records.bind(published);
        published.records = () => all().filter((r) => r.type !== "A" || only.includes(String(r.data)));
      }
      published.on("up", () => logger.info(`announced ${published.fqdn} port ${published.port}`));
      let gone: Promise<void> | undefined;
      return {
        unpublish: () => {
          gone ??= new Promise<void>((resolve) => published.stop?.(() => resolve()));
          return gone;
        },
      };
    },
    destroy: () => {
      destroyed ??= new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
      return destroyed;
    },
  };
}

/** One service a browser saw. */
export interface FoundService {
  readonly name: string;
  /** `_esphomelib._tcp`, `_p1-gateway._tcp`. */
  readonly type: string;
  /** SRV target host (`p1-gateway.local`). */
  readonly host: string;
  readonly addresses: readonly string[];
  readonly port: number;
  readonly txt: Readonly<Record<string, string>>;
}

/** A running browser. */
export interface MdnsBrowser {
  /** Stops querying and closes the socket; idempotent. */
  stop(): Promise<void>;
}

/** What a browser reports. */
export interface BrowseHandlers {
  readonly up: (service: FoundService) => void;
  readonly down?: (service: FoundService) => void;
}

function found(s: Service): FoundService {
  const txt: Record<string, string> = {};
  for (const [k, v] of Object.entries((s.txt ?? {}) as Record<string, unknown>)) {
    // dns-txt decodes a key without `=` as true.
    txt[k] = typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : "";
  }
  return {
    name: s.name,
    type: `_${s.type}._${s.protocol}`,
    host: s.host,
    addresses: [...(s.addresses ?? [])].sort(),
    port: s.port,
    txt,
  };
}

/** Browses `types` (without `_` and protocol) on bonjour-service until stop(). */
export function browseMdns(
  types: readonly string[],
  handlers: BrowseHandlers,
  options: MdnsNetworkOptions = {},
): MdnsBrowser {
  const logger = options.logger ?? silentLogger;
  const iface = options.interface === undefined ? undefined : resolveMdnsInterface(options.interface);
  const bonjour = bonjourFor(iface, logger);
  const browsers = types.map((type) => {
    const b = bonjour.find({ type, protocol: "tcp" });
    b.on("up", (s) => handlers.up(found(s)));
    b.on("down", (s) => handlers.down?.(found(s)));
    return b;
  });
  let stopped: Promise<void> | undefined;
  return {
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        for (const b of browsers) b.stop();
        bonjour.destroy(() => resolve());
      });
      return stopped;
    },
  };
}
