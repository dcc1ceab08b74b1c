export {
  type BrowseHandlers,
  browseMdns,
  createBonjourResponder,
  type FoundService,
  type MdnsBrowser,
  type MdnsNetworkOptions,
  resolveMdnsInterface,
} from "./bonjour.ts";
export {
  ESPHOME_SERVICE_TYPE,
  type EsphomeDeviceAnnouncement,
  esphomeService,
  GATEWAY_SERVICE_TYPE,
  gatewayService,
  type MdnsAnnouncer,
  type MdnsAnnouncerOptions,
  type MdnsResponder,
  type MdnsService,
  type PublishedService,
  startMdnsAnnouncer,
  txtMac,
} from "./mdns.ts";
