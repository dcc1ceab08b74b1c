import { EventEmitter, once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import type { SerialSettings } from "../src/dsmr/index.ts";
import { openVirtualPort, PtyError, type VirtualPort } from "./pty.ts";

/** Where simulated bytes go: a file, stdout, a TCP server, a serial device or a pty. */
export interface Sink {
  /** Human-readable target (path, address). */
  readonly target: string;
  write(bytes: Buffer): Promise<void>;
  /** Reacts to a simulated cable unplug / replug. */
  cable(event: "unplug" | "replug"): void;
  close(): Promise<void>;
}

/** A sink could not be opened; the message names the target and why. */
export class SinkError extends Error {
  override readonly name = "SinkError";
}

async function writeTo(stream: Writable, bytes: Buffer): Promise<void> {
  // Honour back-pressure so a slow reader never makes us buffer without bound.
  if (!stream.write(bytes)) await once(stream, "drain");
}

/** Writes to an already open stream (stdout). */
export function streamSink(stream: Writable, target: string): Sink {
  return {
    target,
    write: (bytes) => writeTo(stream, bytes),
    cable: () => {},
    close: async () => {},
  };
}

/** Opens a file for writing (created or truncated); SinkError when it cannot be written. */
export async function openFileSink(path: string): Promise<Sink> {
  const stream: WriteStream = createWriteStream(path);
  try {
    await once(stream, "open");
  } catch (e) {
    throw new SinkError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return {
    target: path,
    write: (bytes) => writeTo(stream, bytes),
    cable: () => {},
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

/** Events of the TCP sink (for tests and status output). */
export interface TcpSinkEvents {
  connection: [Socket];
}

/** A TCP server like ser2net: every connected reader gets every byte written from then on. */
export interface TcpSink extends Sink {
  readonly port: number;
  readonly clients: number;
  readonly events: EventEmitter<TcpSinkEvents>;
}

/** Starts a TCP server on host:port (port 0 = any free port); SinkError when it cannot listen. */
export async function startTcpSink(port: number, host = "127.0.0.1"): Promise<TcpSink> {
  const clients = new Set<Socket>();
  const events = new EventEmitter<TcpSinkEvents>();
  let unplugged = false;
  const server: Server = createServer((socket) => {
    if (unplugged) {
      socket.destroy();
      return;
    }
    clients.add(socket);
    socket.on("close", () => clients.delete(socket));
    socket.on("error", () => clients.delete(socket)); // a reader going away is normal, not an error of ours
    events.emit("connection", socket);
  });
  server.listen(port, host);
  try {
    await once(server, "listening");
  } catch (e) {
    throw new SinkError(
      `cannot listen on ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  return {
    target: `${host}:${actual}`,
    port: actual,
    get clients() {
      return clients.size;
    },
    events,
    async write(bytes) {
      await Promise.all([...clients].filter((c) => c.writable).map((c) => writeTo(c, bytes)));
    },
    cable(event) {
      unplugged = event === "unplug";
      if (unplugged) for (const c of clients) c.destroy();
    },
    close() {
      for (const c of clients) c.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens an existing serial device or pty with the version's line settings (via `serialport`). */
export async function openSerialSink(path: string, settings: SerialSettings): Promise<Sink> {
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({
    path,
    baudRate: settings.baudRate,
    dataBits: settings.dataBits,
    parity: settings.parity,
    stopBits: settings.stopBits,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) =>
    port.open((err) =>
      err ? reject(new SinkError(`cannot open serial port ${path}: ${err.message}`)) : resolve(),
    ),
  );
  return {
    target: path,
    write: (bytes) =>
      new Promise((resolve, reject) => {
        port.write(bytes);
        port.drain((err) => (err ? reject(err) : resolve()));
      }),
    cable: () => {},
    close: () => new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

/** A virtual serial port: readers open `path`, the simulator holds the other end. */
export interface PtySink extends Sink {
  /** The path a gateway should open. */
  readonly path: string;
}

/**
 * Creates a virtual serial port (a pty, through node-pty) whose stable `link` readers open. An unplug
 * removes it (the link disappears and readers see the port vanish, like a USB cable pulled out); a replug
 * creates it again under the same path. Bytes written while unplugged are lost, as on a real cable.
 */
export async function startPty(link = join(tmpdir(), `p1-simulator-${process.pid}`)): Promise<PtySink> {
  let port: VirtualPort | undefined = await openPort(link);
  // Unplug and replug run in order, and writes wait for a replug in progress.
  let changes: Promise<void> = Promise.resolve();
  return {
    target: link,
    path: link,
    async write(bytes) {
      await changes;
      if (port) await port.write(bytes);
    },
    cable(event) {
      changes = changes.then(async () => {
        if (event === "unplug") {
          const old = port;
          port = undefined;
          await old?.close();
        } else if (!port) {
          port = await openPort(link);
        }
      });
    },
    async close() {
      await changes.catch(() => {});
      await port?.close();
      port = undefined;
    },
  };
}

async function openPort(link: string): Promise<VirtualPort> {
  try {
    return await openVirtualPort(link);
  } catch (e) {
    throw e instanceof PtyError ? new SinkError(e.message) : e;
  }
}
