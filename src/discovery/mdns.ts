import type { GatewayView } from "../gateway/types.ts";
import { type Logger, P1Error, silentLogger } from "../shared/index.ts";

// What the gateway announces over mDNS (docs/esphome-native-api.md §6, DESIGN.md "Home Assistant
// contract"): one `_esphomelib._tcp` service per native-API device, for Home Assistant's ESPHome
// discovery, and one `_p1-gateway._tcp` service for gRPC clients. The responder that puts records on
// the wire is injected, so this file holds only what is announced and when.

/** DNS-SD service type Home Assistant's ESPHome integration browses (§6), without `_` and protocol. */
export const ESPHOME_SERVICE_TYPE = "esphomelib";
/** DNS-SD service type of the gateway's gRPC API. */
export const GATEWAY_SERVICE_TYPE = "p1-gateway";
/** TXT `platform` of ESPHome's own Linux build ("host" platform); HA only displays it. */
export const TXT_PLATFORM = "host";
/** TXT `board`: ESPHome writes the board id; there is no board, so the project says what it is. */
export const TXT_BOARD = "p1-gateway";
/** TXT `network`: ESPHome writes `wifi` or `ethernet`; a gateway host is on a wired or bridged LAN. */
export const TXT_NETWORK = "ethernet";
// RFC 6763 §6.1: one TXT string (key=value) is at most 255 bytes.
const MAX_TXT_STRING_BYTES = 255;

/** One service to announce: instance name, DNS-SD type, SRV target host and port, TXT strings. */
export interface MdnsService {
  /** Instance name (one DNS label). */
  readonly name: string;
  /** Type without the leading `_` and protocol: `esphomelib` → `_esphomelib._tcp.local`. */
  readonly type: string;
  /** SRV target: `<name>.local`; Home Assistant takes the device name from it (§6). */
  readonly host: string;
  readonly port: number;
  readonly txt: Readonly<Record<string, string>>;
}

/** A service the responder is announcing. */
export interface PublishedService {
  /** Sends the goodbye (TTL 0) records of the service and stops answering for it. */
  unpublish(): Promise<void>;
}

/** What puts mDNS records on the wire; bonjour-service in production, a recorder in unit tests. */
export interface MdnsResponder {
  publish(service: MdnsService): PublishedService;
  /** Closes the socket; published services must have been unpublished first. */
  destroy(): Promise<void>;
}

/** One native-API device as Home Assistant discovers it. */
export interface EsphomeDeviceAnnouncement {
  /** Host name (HelloResponse.name, DeviceInfo name), ≤ 31 characters. */
  readonly name: string;
  readonly friendlyName: string;
  /** The device's MAC in any notation; announced as 12 lowercase hex digits (TXT `mac`). */
  readonly mac: string;
  readonly port: number;
  /** The Noise protocol name when the API requires encryption (TXT `api_encryption`), else null. */
  readonly apiEncryption: string | null;
}

/** What the announcer announces. */
export interface MdnsAnnouncerOptions {
  readonly responder: MdnsResponder;
  /** Native-API devices (one per gateway source, or one for the gateway). */
  readonly devices: readonly EsphomeDeviceAnnouncement[];
  /** The gateway's own host label for the `_p1-gateway._tcp` service. */
  readonly gatewayName: string;
  /** gRPC port; null = gRPC is not served, nothing announced for it. */
  readonly grpcPort: number | null;
  /** ESPHome version the devices report (TXT `version`, must match DeviceInfo esphome_version). */
  readonly esphomeVersion: string;
  readonly projectName: string;
  /** p1-gateway's version (TXT `project_version` and `_p1-gateway` `version`). */
  readonly projectVersion: string;
  readonly logger?: Logger;
}

/** Running announcer. */
export interface MdnsAnnouncer {
  /** Services announced now. */
  services(): readonly MdnsService[];
  /** Sends goodbye packets for every service, then closes the responder; idempotent. */
  stop(): Promise<void>;
}

/** MAC as Home Assistant's discovery reads TXT `mac`: 12 lowercase hex digits (§6). */
export function txtMac(mac: string): string {
  const hex = mac.replace(/[:\-.]/g, "").toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex)) {
    throw new P1Error("CONFIG_INVALID", `mac must be 12 hex digits, got "${mac}"`, { key: "mac" });
  }
  return hex;
}

/** Keeps a TXT value within one 255-byte string, cut at a comma so a list stays a list of whole items. */
function fitTxt(key: string, value: string): string {
  const room = MAX_TXT_STRING_BYTES - Buffer.byteLength(`${key}=`);
  if (Buffer.byteLength(value) <= room) return value;
  let cut = value;
  while (Buffer.byteLength(cut) > room) {
    const comma = cut.lastIndexOf(",");
    cut = comma > 0 ? cut.slice(0, comma) : cut.slice(0, room);
  }
  return cut;
}

/** The `_esphomelib._tcp` service of one device, TXT records as ESPHome firmware writes them (§6). */
export function esphomeService(
  device: EsphomeDeviceAnnouncement,
  project: { readonly esphomeVersion: string; readonly projectName: string; readonly projectVersion: string },
): MdnsService {
  const txt: Record<string, string> = {
    friendly_name: fitTxt("friendly_name", device.friendlyName),
    version: project.esphomeVersion,
    // HA aborts discovery without it and uses it as the unique id: it must equal DeviceInfo's MAC.
    mac: txtMac(device.mac),
    platform: TXT_PLATFORM,
    board: TXT_BOARD,
    network: TXT_NETWORK,
    project_name: project.projectName,
    project_version: project.projectVersion,
  };
  // Present only with a key: HA then asks the user for it before connecting (§6).
  if (device.apiEncryption !== null) txt.api_encryption = device.apiEncryption;
  return {
    name: device.name,
    type: ESPHOME_SERVICE_TYPE,
    host: `${device.name}.local`,
    port: device.port,
    txt,
  };
}

/** The `_p1-gateway._tcp` service: where gRPC is, which version, which meters the gateway found. */
export function gatewayService(
  options: Pick<MdnsAnnouncerOptions, "gatewayName" | "projectVersion" | "devices">,
  grpcPort: number,
  meters: readonly string[],
): MdnsService {
  const first = options.devices[0];
  const txt: Record<string, string> = {
    grpc_port: String(grpcPort),
    version: options.projectVersion,
    meters: fitTxt("meters", meters.join(",")),
  };
  if (first !== undefined) {
    txt.api_port = String(first.port);
    txt.mac = txtMac(first.mac);
  }
  return {
    name: options.gatewayName,
    type: GATEWAY_SERVICE_TYPE,
    host: `${options.gatewayName}.local`,
    port: grpcPort,
    txt,
  };
}

/** Meter ids the gateway found so far, in a stable order. */
function meterIds(view: GatewayView): string[] {
  return view
    .info()
    .sources.flatMap((s) => s.meters.map((m) => m.id))
    .sort();
}

/**
 * Announces the gateway's native-API devices and its gRPC service through `responder` until stop().
 * The `_p1-gateway` TXT lists the meters found, so it is re-announced when the gateway finds new ones;
 * the ESPHome services never change while running (Home Assistant would see the device go and come).
 */
export function startMdnsAnnouncer(view: GatewayView, options: MdnsAnnouncerOptions): MdnsAnnouncer {
  const logger = options.logger ?? silentLogger;
  const { responder } = options;
  const esphome = options.devices.map((d) => esphomeService(d, options));
  const published = new Map<MdnsService, PublishedService>();
  for (const s of esphome) published.set(s, responder.publish(s));

  let gateway: MdnsService | null = null;
  let stopped = false;
  // Re-announcing is a goodbye then a new announcement; chained so two changes never interleave.
  let chain: Promise<void> = Promise.resolve();
  const announceGateway = (): void => {
    if (options.grpcPort === null || stopped) return;
    const next = gatewayService(options, options.grpcPort, meterIds(view));
    if (gateway !== null && gateway.txt.meters === next.txt.meters) return;
    const previous = gateway === null ? undefined : published.get(gateway);
    if (gateway !== null) published.delete(gateway);
    gateway = next;
    if (previous === undefined) {
      published.set(next, responder.publish(next));
      return;
    }
    chain = chain
      .then(() => previous.unpublish())
      .then(() => {
        if (stopped || gateway !== next) return;
        published.set(next, responder.publish(next));
      })
      .catch((e: unknown) => logger.warn(`mDNS re-announcement failed: ${(e as Error).message}`));
  };
  announceGateway();
  const onEntities = (): void => announceGateway();
  view.on("entities", onEntities);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopped = true;
      view.off("entities", onEntities);
      await chain;
      const all = [...published.values()];
      published.clear();
      // Goodbyes first (TTL 0 records, RFC 6762 §10.1): browsers drop the device at once.
      const results = await Promise.allSettled(all.map((p) => p.unpublish()));
      for (const r of results)
        if (r.status === "rejected") logger.warn(`mDNS goodbye failed: ${String(r.reason)}`);
      await responder.destroy();
    })();
    return stopping;
  };

  return {
    services: () => [...published.keys()],
    stop,
  };
}
