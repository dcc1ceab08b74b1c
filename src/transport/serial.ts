import { read } from "node:fs";
import type { SerialPort } from "serialport";
import { isP1Error, P1Error } from "../shared/index.ts";
import { type BackoffOptions, type Link, type LinkSink, ReconnectingSource } from "./reconnect.ts";

/**
 * Serial line settings, structurally identical to `SerialSettings` of `src/dsmr` (transport may import
 * only `src/shared`, so the gateway passes the dsmr value straight in).
 */
export interface SerialLineSettings {
  readonly baudRate: 9600 | 115200;
  readonly dataBits: 7 | 8;
  readonly parity: "none" | "even";
  readonly stopBits: 1;
}

/** Where and how to open a P1 serial port (a USB P1 cable, usually `/dev/ttyUSB0`). */
export interface SerialSourceOptions {
  /** Device path; a stable `/dev/serial/by-id/…` link survives replugging into another USB socket. */
  readonly path: string;
  readonly settings: SerialLineSettings;
  readonly reconnect?: BackoffOptions;
}

/** What an open failure means for the user, by errno name. */
interface OpenProblem {
  /** strerror(3) text: @serialport/bindings-cpp puts only this in its messages, no `code`. */
  readonly strerror: string;
  readonly message: (path: string) => string;
}

const missing = (path: string) => `no such device ${path}, is the cable plugged in?`;
const denied = (path: string) =>
  `permission denied opening ${path}: add the user to the dialout group ` +
  "(sudo usermod -aG dialout $USER, then log in again) or run with access to the device";
const busy = (path: string) =>
  `${path} is busy: another program has it open (another gateway, a serial console, ModemManager); ` +
  "close that program, the port is retried";
const notSerial = (path: string) => `${path} is not a serial device (check the path)`;

/** Open failures users meet, with what to do about them (Linux errno names and glibc texts). */
const OPEN_PROBLEMS: Readonly<Record<string, OpenProblem>> = {
  ENOENT: { strerror: "No such file or directory", message: missing },
  ENODEV: { strerror: "No such device", message: missing },
  ENXIO: { strerror: "No such device or address", message: missing },
  EACCES: { strerror: "Permission denied", message: denied },
  EPERM: { strerror: "Operation not permitted", message: denied },
  EBUSY: { strerror: "Device or resource busy", message: busy },
  // flock(LOCK_EX | LOCK_NB) fails so when another process (using serialport's lock) holds the port.
  EAGAIN: { strerror: "Resource temporarily unavailable", message: busy },
  ENOTTY: { strerror: "Inappropriate ioctl for device", message: notSerial },
  EISDIR: { strerror: "Is a directory", message: notSerial },
};

/** Longest text first, so "No such device or address" is not taken for "No such device". */
const BY_STRERROR = Object.entries(OPEN_PROBLEMS).sort(
  ([, a], [, b]) => b.strerror.length - a.strerror.length,
);

/** The errno name behind an error: its `code` when it has one, else found from the strerror text in its message. */
function errnoOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code in OPEN_PROBLEMS) return code;
  const message = (error as { message?: unknown }).message;
  if (typeof message !== "string") return undefined;
  return BY_STRERROR.find(([, p]) => message.includes(p.strerror))?.[0];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Translates a failure to open `path` into a SOURCE_DISCONNECTED P1Error that says what to do
 * (missing device, permission denied, busy); the original error is the cause.
 */
export function describeSerialError(error: unknown, path: string): P1Error {
  if (isP1Error(error)) return error;
  const errno = errnoOf(error);
  const problem = errno === undefined ? undefined : OPEN_PROBLEMS[errno];
  const message = problem ? problem.message(path) : `cannot open serial port ${path}: ${messageOf(error)}`;
  return new P1Error(
    "SOURCE_DISCONNECTED",
    message,
    { source: `serial:${path}`, path, errno },
    { cause: error },
  );
}

/** The port went away while open (cable pulled, device reset, read error). */
function lostError(path: string, cause: unknown): P1Error {
  const detail = cause === undefined ? "the port closed" : messageOf(cause);
  return new P1Error(
    "SOURCE_DISCONNECTED",
    `serial port ${path} disconnected (${detail}): was the cable unplugged?`,
    { source: `serial:${path}`, path },
    cause === undefined ? undefined : { cause },
  );
}

let serialPortModule: Promise<typeof import("serialport")> | undefined;

/** Loads serialport (and its native binding) on first use: TCP and file sources work where it cannot load. */
function loadSerialPort(): Promise<typeof import("serialport")> {
  serialPortModule ??= import("serialport").catch((e: unknown) => {
    serialPortModule = undefined;
    throw new P1Error(
      "SOURCE_DISCONNECTED",
      `the serialport package did not load (${messageOf(e)}); reinstall with npm ci`,
      {},
      { cause: e },
    );
  });
  return serialPortModule;
}

/** What serialport's Unix port bindings (Linux, macOS) expose: the descriptor and its poller. */
interface UnixPortBinding {
  readonly fd: number | null;
  readonly isOpen: boolean;
  readonly poller: { once(event: "readable", listener: (error: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

function isUnixPortBinding(port: unknown): port is UnixPortBinding {
  if (typeof port !== "object" || port === null) return false;
  const p = port as Partial<Record<keyof UnixPortBinding, unknown>>;
  return (
    (typeof p.fd === "number" || p.fd === null) &&
    typeof p.poller === "object" &&
    typeof p.read === "function"
  );
}

/** Errors that mean "no byte yet": wait until the descriptor is readable. */
const TRY_AGAIN = new Set(["EAGAIN", "EWOULDBLOCK", "EINTR"]);

/**
 * One read from a Unix port binding, as serialport's own `unixRead` does, except for end of file. A tty
 * opened with VMIN=1 reads 0 bytes only once it was hung up: the USB adapter (or pty) is gone. serialport
 * reads again at once in that case, forever and without a `close`, spinning a thread; here it ends the
 * read with an error, so serialport closes the port as on any other read error and we reconnect.
 */
async function readUntilHangup(
  port: UnixPortBinding,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    const fd = port.fd;
    // `canceled` tells serialport this is our own close, not a disconnect.
    if (fd === null || !port.isOpen) throw Object.assign(new Error("Port is not open"), { canceled: true });
    try {
      const bytesRead = await new Promise<number>((resolve, reject) =>
        read(fd, buffer, offset, length, null, (e, n) => (e ? reject(e) : resolve(n))),
      );
      if (bytesRead === 0) throw Object.assign(new Error("end of file, the device hung up"), { code: "EOF" });
      return { buffer, bytesRead };
    } catch (e) {
      if (!TRY_AGAIN.has(String((e as { code?: unknown }).code))) throw e;
      // Closed while the read was in flight: the poller is destroyed, and polling it would crash the process.
      if (!port.isOpen) throw Object.assign(new Error("Port is not open"), { canceled: true });
      await new Promise<void>((resolve, reject) =>
        port.poller.once("readable", (error) => (error ? reject(error) : resolve())),
      );
    }
  }
}

/** The part of a serialport binding (the object that opens ports) we wrap. */
interface Binding {
  list(): Promise<unknown>;
  open(options: object): Promise<unknown>;
}

/** serialport's binding with `readUntilHangup` on ports that support it (other platforms unchanged). */
function hangupAwareBinding(base: Binding): Binding {
  return {
    list: () => base.list(),
    async open(options) {
      const port = await base.open(options);
      if (isUnixPortBinding(port))
        port.read = (buffer, offset, length) => readUntilHangup(port, buffer, offset, length);
      return port;
    },
  };
}

/** Closes a port, never failing: a port that cannot close is gone already. */
function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (port.isOpen) port.close(() => resolve());
    else resolve();
  });
}

/** Bytes from a serial port (P1 cable), reopened with backoff when it fails or disappears, until `stop()`. */
export class SerialSource extends ReconnectingSource {
  /** `serial:<path>`. */
  readonly description: string;
  /** The device path. */
  readonly path: string;
  // Read on every open, so automatic baud detection can later switch settings between attempts.
  #settings: SerialLineSettings;

  constructor(options: SerialSourceOptions) {
    super(options.reconnect);
    if (options.path === "")
      throw new P1Error("CONFIG_INVALID", "serialPort must not be empty", { key: "serialPort" });
    this.path = options.path;
    this.#settings = options.settings;
    this.description = `serial:${options.path}`;
  }

  /** The line settings the next open uses. */
  get settings(): SerialLineSettings {
    return this.#settings;
  }

  protected describeError(error: unknown): P1Error {
    return describeSerialError(error, this.path);
  }

  protected async openLink(sink: LinkSink, signal: AbortSignal): Promise<Link> {
    const { SerialPort } = await loadSerialPort();
    const path = this.path;
    // `binding` is not in serialport's option type, but its constructor takes it (it spreads our options last).
    const options = {
      path,
      ...this.#settings,
      autoOpen: false,
      binding: hangupAwareBinding(SerialPort.binding),
    };
    const port = new SerialPort(options);
    let closing = false;
    let endCause: unknown;
    // Open and close report through their callbacks; any other stream error ends the link like a read error.
    const onError = (error: Error) => {
      endCause = error;
      if (!closing) void closePort(port);
    };
    port.on("error", onError);
    // The native open cannot be cancelled: stop() waits for it, then the port is closed below.
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    if (signal.aborted) {
      await closePort(port);
      throw new P1Error("SOURCE_DISCONNECTED", `serial port ${path}: stopped while opening`);
    }
    const onData = (chunk: Buffer) => sink.data(chunk);
    // serialport closes the port itself on a read error (ENXIO, EIO, EBADF after unplug): `error` says why.
    const onClose = (error: Error | null) => {
      if (!closing) sink.lost(lostError(path, error ?? endCause));
    };
    // A binding that returns 0 bytes ends the stream while the port stays open: close it, so the loss is reported.
    const onEnd = () => {
      endCause = new Error("end of stream");
      void closePort(port);
    };
    port.on("data", onData);
    port.once("close", onClose);
    port.once("end", onEnd);
    return {
      async close() {
        closing = true;
        await closePort(port);
        port.off("data", onData);
        port.off("close", onClose);
        port.off("end", onEnd);
        // onError stays: the discarded port must never throw an unhandled 'error'.
      },
    };
  }
}
