import { readSync } from "node:fs";
import type { SerialPort } from "serialport";
import { isP1Error, P1Error, type Timer } from "../shared/index.ts";
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

/** What a judge concluded from the bytes fed so far: a valid telegram, a broken one, or not enough yet. */
export type SerialVerdict = "valid" | "invalid" | "unknown";

/**
 * Decides whether bytes read at some line settings are meter data. Transport does not know DSMR, so the
 * caller supplies it (a CRC-checking decoder); a fresh one is made per attempt, so no state leaks between
 * candidate settings.
 */
export interface SerialJudge {
  /** Feeds one chunk; "valid" once it completed a telegram that checks out. */
  feed(chunk: Buffer): SerialVerdict;
}

/** DSMR 2.x/3.0 write every 10 s: a 12 s window sees at least one whole telegram at any version. */
export const DEFAULT_DETECT_WINDOW_MS = 12_000;

/**
 * A vanished device (unplugged cable, a by-id link not there yet) is looked for at least this often, whatever
 * the backoff has grown to: a failed open is one cheap syscall, and a replugged cable is read again within
 * this long of its return (udev makes the node and links within milliseconds of the USB enumeration).
 */
export const MISSING_DEVICE_RETRY_MS = 1_000;

/** Which modem-control line drives the meter's Data Request (P1 pin 2) on adapters that wire one. */
export type DataRequestLine = "rts" | "dtr" | "both" | "none";

/**
 * The line states each data-request choice asserts right after every open (TIOCMSET sets both lines, so
 * each choice names both); "none" leaves the driver's state (Linux raises RTS and DTR on open anyway).
 */
export const DATA_REQUEST_LINES = {
  rts: { rts: true, dtr: false },
  dtr: { rts: false, dtr: true },
  both: { rts: true, dtr: true },
  none: null,
} as const satisfies Readonly<Record<DataRequestLine, { rts: boolean; dtr: boolean } | null>>;

/** Every data-request choice, for configuration checks. */
export const DATA_REQUEST_CHOICES = Object.keys(DATA_REQUEST_LINES) as readonly DataRequestLine[];

/** Where and how to open a P1 serial port (a USB P1 cable, usually `/dev/ttyUSB0`). */
export interface SerialSourceOptions {
  /** Device path; a stable `/dev/serial/by-id/…` link survives replugging into another USB socket. */
  readonly path: string;
  /** Fixed line settings, or "auto": try `candidates` in turn until `createJudge`'s judge says "valid". */
  readonly settings: SerialLineSettings | "auto";
  /** Settings "auto" tries, in order (required with "auto"). */
  readonly candidates?: readonly SerialLineSettings[];
  /** Makes the judge of one attempt (required with "auto"). */
  readonly createJudge?: () => SerialJudge;
  /** How long one candidate may take to produce a valid telegram (default 12 s). */
  readonly detectWindowMs?: number;
  readonly reconnect?: BackoffOptions;
  /** Reopen after this long without a byte (null = never; see `ReconnectingOptions`). */
  readonly stallTimeoutMs?: number | null;
  /** Raise RTS and/or DTR after each open, for adapters that feed Data Request from it (default "none"). */
  readonly dataRequest?: DataRequestLine;
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
    { source: `serial:${path}`, path, unplugged: true },
    cause === undefined ? undefined : { cause },
  );
}

/** Errno names that mean the device is not there (now): retried every MISSING_DEVICE_RETRY_MS. */
const MISSING_ERRNOS: ReadonlySet<string> = new Set(["ENOENT", "ENODEV", "ENXIO"]);

/** The data-request line could not be raised: reading goes on (the adapter may power it by itself). */
function dataRequestError(path: string, line: DataRequestLine, cause: unknown): P1Error {
  return new P1Error(
    "SOURCE_DISCONNECTED",
    `cannot raise the data-request line (${line.toUpperCase()}) on ${path} (${messageOf(cause)}): ` +
      "reading on without it; if no telegrams arrive, power P1 pin 2 from 5 V (see hardware/p1-port.md)",
    { source: `serial:${path}`, path, dataRequest: line },
    { cause },
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
      // Synchronous: bindings-cpp opens ports O_NONBLOCK, so a read returns at once (bytes, or EAGAIN and
      // we poll). fs.read would add a thread-pool round trip per chunk (~0.1–0.3 ms of latency).
      const bytesRead = readSync(fd, buffer, offset, length, null);
      if (bytesRead === 0) throw Object.assign(new Error("end of file, the device hung up"), { code: "EOF" });
      return { buffer, bytesRead };
    } catch (e) {
      if (!TRY_AGAIN.has(String((e as { code?: unknown }).code))) throw e;
      // Closed meanwhile: the poller is destroyed, and polling it would crash the process.
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
  readonly #fixed: SerialLineSettings | null;
  readonly #candidates: readonly SerialLineSettings[];
  readonly #createJudge: (() => SerialJudge) | null;
  readonly #detectWindowMs: number;
  readonly #dataRequest: DataRequestLine;
  /** The data-request failure is reported once per source: every reopen would fail the same way. */
  #dataRequestWarned = false;
  #detected: SerialLineSettings | null = null;
  #current: SerialLineSettings | null = null;

  constructor(options: SerialSourceOptions) {
    super(options.reconnect, { stallTimeoutMs: options.stallTimeoutMs ?? null });
    if (options.path === "")
      throw new P1Error("CONFIG_INVALID", "serialPort must not be empty", { key: "serialPort" });
    this.path = options.path;
    this.description = `serial:${options.path}`;
    this.#detectWindowMs = options.detectWindowMs ?? DEFAULT_DETECT_WINDOW_MS;
    this.#dataRequest = options.dataRequest ?? "none";
    if (!(this.#dataRequest in DATA_REQUEST_LINES))
      throw new P1Error(
        "CONFIG_INVALID",
        `dataRequest must be one of ${DATA_REQUEST_CHOICES.join(", ")}, got ${String(this.#dataRequest)}`,
        { key: "dataRequest" },
      );
    if (!(this.#detectWindowMs > 0))
      throw new P1Error("CONFIG_INVALID", `detectWindowMs must be > 0, got ${this.#detectWindowMs}`, {
        key: "serial.detectWindowMs",
      });
    if (options.settings === "auto") {
      const candidates = options.candidates ?? [];
      if (candidates.length === 0 || options.createJudge === undefined)
        throw new P1Error("CONFIG_INVALID", "serial settings auto needs candidates and a judge", {
          key: "serial",
        });
      this.#fixed = null;
      this.#candidates = candidates;
      this.#createJudge = options.createJudge;
    } else {
      this.#fixed = options.settings;
      this.#candidates = [options.settings];
      this.#createJudge = null;
    }
  }

  /** The line settings the next open uses first: the fixed ones, the detected ones, else the first candidate. */
  get settings(): SerialLineSettings {
    return this.#fixed ?? this.#detected ?? (this.#candidates[0] as SerialLineSettings);
  }

  /** The settings the port is open (or being tried) with now; null while closed. */
  get currentSettings(): SerialLineSettings | null {
    return this.#current;
  }

  /** With "auto": the settings that gave a valid telegram (kept across reconnects); else null. */
  get detectedSettings(): SerialLineSettings | null {
    return this.#detected;
  }

  /** The data-request line asserted after each open. */
  get dataRequest(): DataRequestLine {
    return this.#dataRequest;
  }

  protected describeError(error: unknown): P1Error {
    return describeSerialError(error, this.path);
  }

  protected override retryCapMs(error: P1Error): number | undefined {
    const { errno, unplugged } = error.context ?? {};
    const missing = unplugged === true || (typeof errno === "string" && MISSING_ERRNOS.has(errno));
    return missing ? MISSING_DEVICE_RETRY_MS : undefined;
  }

  /** Asserts the data-request line; a port that cannot (a pty, an adapter without the line) is read anyway. */
  async #raiseDataRequest(port: SerialPort): Promise<void> {
    const lines = DATA_REQUEST_LINES[this.#dataRequest];
    if (lines === null) return;
    const error = await new Promise<Error | null>((resolve) => port.set(lines, (e) => resolve(e ?? null)));
    // A port closed under us (unplugged during the ioctl) is a loss, reported as such, not this warning.
    if (error === null || this.#dataRequestWarned || !port.isOpen) return;
    this.#dataRequestWarned = true;
    this.emit("warning", dataRequestError(this.path, this.#dataRequest, error));
  }

  protected async openLink(sink: LinkSink, signal: AbortSignal): Promise<Link> {
    if (this.#createJudge === null) {
      const link = await this.#openAt(this.settings, sink, signal, null);
      // Without a judge every open is accepted; null cannot come back.
      if (link === null) throw new P1Error("SOURCE_DISCONNECTED", `serial port ${this.path}: not accepted`);
      return link;
    }
    const createJudge = this.#createJudge;
    // The remembered winner first: after a replug the meter is the same, so detection is one window at most.
    const order = this.#detected
      ? [this.#detected, ...this.#candidates.filter((c) => c !== this.#detected)]
      : this.#candidates;
    for (const candidate of order) {
      const link = await this.#openAt(candidate, sink, signal, createJudge);
      if (link !== null) {
        this.#detected = candidate;
        return link;
      }
    }
    this.#detected = null;
    throw new P1Error(
      "SOURCE_DISCONNECTED",
      `no valid telegram at ${this.#candidates.map(formatLine).join(", ")}: check the cable / inverted signal`,
      { source: this.description, path: this.path },
    );
  }

  /**
   * Opens the port at `settings`. With a judge, waits up to one window for a valid telegram and returns
   * null (port closed) when none came; once accepted, the link keeps judging and reports itself lost when a
   * whole window of bytes holds no valid telegram (garbage: the meter changed or the settings were wrong).
   */
  async #openAt(
    settings: SerialLineSettings,
    sink: LinkSink,
    signal: AbortSignal,
    createJudge: (() => SerialJudge) | null,
  ): Promise<Link | null> {
    const { SerialPort } = await loadSerialPort();
    const path = this.path;
    const clock = this.clock;
    const windowMs = this.#detectWindowMs;
    // `binding` is not in serialport's option type, but its constructor takes it (it spreads our options last).
    const options = { path, ...settings, autoOpen: false, binding: hangupAwareBinding(SerialPort.binding) };
    const port = new SerialPort(options);
    let closing = false;
    let endCause: unknown;
    // Open and close report through their callbacks; any other stream error ends the link like a read error.
    const onError = (error: Error) => {
      endCause = error;
      if (!closing) void closePort(port);
    };
    port.on("error", onError);
    // The native open cannot be cancelled: stop() waits for it, then the port is closed below. Opening by
    // path every time follows a /dev/serial/by-id link anew: after a replug it may name another ttyUSBn.
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    await this.#raiseDataRequest(port);
    if (signal.aborted) {
      await closePort(port);
      throw new P1Error("SOURCE_DISCONNECTED", `serial port ${path}: stopped while opening`);
    }
    this.#current = settings;

    let judge = createJudge?.() ?? null;
    let accepted = judge === null;
    let validInWindow = false;
    let bytesInWindow = 0;
    // Bytes read while judging are replayed once the link is reported up, so the first telegram is kept.
    // Cap: one window of DSMR 5 output (~2 KB/s) is far below this; beyond it the oldest bytes go.
    const MAX_HELD_BYTES = 256 * 1024;
    let held: Buffer[] = [];
    let heldBytes = 0;
    let decide: ((ok: boolean) => void) | undefined;
    let lostCause: unknown;
    let lost = false;

    const onData = (chunk: Buffer) => {
      bytesInWindow += chunk.length;
      if (judge && judge.feed(chunk) === "valid") validInWindow = true;
      if (accepted) {
        sink.data(chunk);
        return;
      }
      held.push(chunk);
      heldBytes += chunk.length;
      while (heldBytes > MAX_HELD_BYTES && held.length > 1) heldBytes -= (held.shift() as Buffer).length;
      if (validInWindow) decide?.(true);
    };
    // serialport closes the port itself on a read error (ENXIO, EIO, EBADF after unplug): `error` says why.
    const onClose = (error: Error | null) => {
      if (closing) return;
      lost = true;
      lostCause = error ?? endCause;
      if (accepted) sink.lost(lostError(path, lostCause));
      else decide?.(false);
    };
    // A binding that returns 0 bytes ends the stream while the port stays open: close it, so the loss is reported.
    const onEnd = () => {
      endCause = new Error("end of stream");
      void closePort(port);
    };
    port.on("data", onData);
    port.once("close", onClose);
    port.once("end", onEnd);

    let timer: Timer | undefined;
    const release = async () => {
      closing = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      await closePort(port);
      port.off("data", onData);
      port.off("close", onClose);
      port.off("end", onEnd);
      if (this.#current === settings) this.#current = null;
      // onError stays: the discarded port must never throw an unhandled 'error'.
    };

    if (!accepted) {
      const ok = await new Promise<boolean>((resolve) => {
        const onAbort = () => resolve(false);
        decide = (v) => {
          signal.removeEventListener("abort", onAbort);
          if (timer !== undefined) clock.clearTimeout(timer);
          timer = undefined;
          decide = undefined;
          resolve(v);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        timer = clock.setTimeout(() => decide?.(false), windowMs);
        if (validInWindow) decide(true);
      });
      if (!ok || signal.aborted) {
        await release();
        if (signal.aborted)
          throw new P1Error("SOURCE_DISCONNECTED", `serial port ${path}: stopped while detecting`);
        // Unplugged while judging: that is an open failure, not a wrong candidate.
        if (lost) throw lostError(path, lostCause);
        return null;
      }
      accepted = true;
      judge = createJudge?.() ?? null;
      validInWindow = false;
      bytesInWindow = 0;
      // Keep judging: a whole window of bytes without one valid telegram means the settings no longer fit.
      const watch = () => {
        timer = clock.setTimeout(() => {
          timer = undefined;
          if (bytesInWindow > 0 && !validInWindow) {
            this.#detected = null;
            sink.lost(
              new P1Error(
                "SOURCE_DISCONNECTED",
                `no valid telegram for ${windowMs / 1000} s at ${formatLine(settings)} while bytes arrive: detecting the serial settings again`,
                { source: this.description, path },
              ),
            );
            return;
          }
          validInWindow = false;
          bytesInWindow = 0;
          watch();
        }, windowMs);
      };
      watch();
    }

    return {
      close: release,
      started() {
        const replay = held;
        held = [];
        heldBytes = 0;
        for (const chunk of replay) sink.data(chunk);
      },
    };
  }
}

/** `115200 8N1` style label (dsmr's formatSerial, which transport may not import). */
function formatLine(s: SerialLineSettings): string {
  return `${s.baudRate} ${s.dataBits}${s.parity === "none" ? "N" : "E"}${s.stopBits}`;
}
