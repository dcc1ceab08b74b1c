import { readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

export const PORTS_HELP = `Usage: p1-gateway ports [--json]

Lists the serial ports of this machine with their USB details and stable /dev/serial/by-id/ link,
marking the USB-serial chips P1 cables are built on.

Options:
  --json       one JSON object per port, one per line
  -h, --help   show this help

Exit status: 0 listed (possibly none), 2 usage error.`;

/** USB serial chips P1 cables use, by "vendor:product" id (lower-case hex, as Linux reports them). */
export const P1_CABLE_CHIPS: Readonly<Record<string, string>> = {
  "0403:6001": "FTDI FT232R",
  "0403:6015": "FTDI FT231X",
  "067b:2303": "Prolific PL2303",
  "1a86:7523": "WCH CH340",
  "10c4:ea60": "Silicon Labs CP210x",
};

/** What the OS tells about one port (serialport's PortInfo, fields optional). */
export interface PortRecord {
  readonly path: string;
  readonly manufacturer?: string | undefined;
  readonly serialNumber?: string | undefined;
  readonly vendorId?: string | undefined;
  readonly productId?: string | undefined;
}

/** One line of `ports` output. */
export interface PortReport {
  readonly path: string;
  readonly manufacturer: string | null;
  readonly vendor_id: string | null;
  readonly product_id: string | null;
  readonly serial_number: string | null;
  readonly by_id: string | null;
  /** The chip name when it is one P1 cables use, else null. */
  readonly p1_cable: string | null;
}

/** Joins a port with its by-id link and marks likely P1 cables. */
export function describePort(port: PortRecord, byId: ReadonlyMap<string, string>): PortReport {
  const vendor = port.vendorId?.toLowerCase() ?? null;
  const product = port.productId?.toLowerCase() ?? null;
  return {
    path: port.path,
    manufacturer: port.manufacturer ?? null,
    vendor_id: vendor,
    product_id: product,
    serial_number: port.serialNumber ?? null,
    by_id: byId.get(port.path) ?? null,
    p1_cable: vendor && product ? (P1_CABLE_CHIPS[`${vendor}:${product}`] ?? null) : null,
  };
}

/** One human-readable line for a port. */
export function formatPort(r: PortReport): string {
  const usb = r.vendor_id && r.product_id ? `${r.vendor_id}:${r.product_id}` : null;
  return [
    r.path,
    r.manufacturer,
    usb,
    r.serial_number ? `serial ${r.serial_number}` : null,
    r.by_id,
    r.p1_cable ? `likely P1 cable (${r.p1_cable})` : null,
  ]
    .filter((x) => x !== null)
    .join("  ");
}

/** Device path → its /dev/serial/by-id/ link; empty where that directory does not exist (no USB serial, not Linux). */
export function readByIdLinks(dir = "/dev/serial/by-id"): Map<string, string> {
  const links = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return links; // absent: no USB serial device plugged in, or not Linux
  }
  for (const name of names) {
    const link = join(dir, name);
    try {
      links.set(realpathSync(link), link);
    } catch {
      // a dangling link (device unplugged while listing) names no port
    }
  }
  return links;
}

/** USB and on-board UART device names; ttyS* is left out, as the kernel creates dozens that are not wired. */
const SERIAL_DEVICE_NAME = /^tty(USB|ACM|AMA)\d+$/;

/** Serial ports by device name alone, for when serialport cannot list them. */
function listDevNames(dir = "/dev"): PortRecord[] {
  try {
    return readdirSync(dir)
      .filter((name) => SERIAL_DEVICE_NAME.test(name))
      .sort()
      .map((name) => ({ path: join(dir, name) }));
  } catch {
    return [];
  }
}

/** `p1-gateway ports`: returns the exit code. */
export async function runPorts(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    out(PORTS_HELP);
    return 0;
  }
  let ports: PortRecord[];
  try {
    const { SerialPort } = await import("serialport");
    ports = await SerialPort.list();
  } catch (e) {
    // serialport lists through udevadm on Linux, absent in minimal containers: the names alone still help.
    ports = listDevNames();
    process.stderr.write(
      `p1-gateway ports: no USB details (${(e as Error).message}); listing /dev/tty{USB,ACM,AMA}* only\n`,
    );
  }
  const byId = readByIdLinks();
  const reports = ports.map((p) => describePort(p, byId));
  if (values.json) for (const r of reports) out(JSON.stringify(r));
  else if (reports.length === 0) out("no serial ports found (is the P1 cable plugged in?)");
  else for (const r of reports) out(formatPort(r));
  return 0;
}
