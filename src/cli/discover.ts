import { parseArgs } from "node:util";
import {
  browseMdns,
  ESPHOME_SERVICE_TYPE,
  type FoundService,
  GATEWAY_SERVICE_TYPE,
} from "../discovery/index.ts";
import { isP1Error } from "../shared/index.ts";
import { UsageError } from "./common.ts";

export const DISCOVER_HELP = `Usage: p1-gateway discover [--seconds N] [--mdns-interface I]

Browses mDNS for p1-gateways (_p1-gateway._tcp, their gRPC API) and ESPHome devices (_esphomelib._tcp,
what Home Assistant adopts; p1-gateway's native API is one) and prints one JSON line per service found:
  {"name":"p1-gateway","type":"_esphomelib._tcp","host":"p1-gateway.local","addresses":["192.168.1.20"],"port":6053,"txt":{"mac":"02…",…}}

Options:
  --seconds N            how long to listen (default 5)
  --mdns-interface I     browse on this interface only: its IPv4 address or name (eth0)
  -h, --help             show this help

Exit status: 0 (also when nothing answered), 2 usage error.`;

/** How long `discover` listens when not told: devices answer a query within a second or two. */
const DEFAULT_SECONDS = 5;

/** `p1-gateway discover`: prints the services answering on the network for a while. */
export async function runDiscover(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string" },
      "mdns-interface": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(DISCOVER_HELP);
    return 0;
  }
  const seconds = values.seconds === undefined ? DEFAULT_SECONDS : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(
      `--seconds must be a number of seconds above 0, got ${JSON.stringify(values.seconds)}`,
    );

  const seen = new Set<string>();
  const print = (s: FoundService): void => {
    // One line per service instance, even if it re-announces while we listen.
    const id = `${s.type}/${s.name}`;
    if (seen.has(id)) return;
    seen.add(id);
    out(
      JSON.stringify({
        name: s.name,
        type: s.type,
        host: s.host,
        addresses: s.addresses,
        port: s.port,
        txt: s.txt,
      }),
    );
  };
  let browser: ReturnType<typeof browseMdns>;
  try {
    browser = browseMdns(
      [GATEWAY_SERVICE_TYPE, ESPHOME_SERVICE_TYPE],
      { up: print },
      {
        interface: values["mdns-interface"],
      },
    );
  } catch (e) {
    if (isP1Error(e, "CONFIG_INVALID")) throw new UsageError(e.message);
    throw e;
  }
  const done = new AbortController();
  const timer = setTimeout(() => done.abort(), seconds * 1000);
  const onSignal = (): void => done.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await new Promise<void>((resolve) =>
    done.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  clearTimeout(timer);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await browser.stop();
  return 0;
}
