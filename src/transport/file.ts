import { EventEmitter } from "node:events";
import { readFile, stat } from "node:fs/promises";
import { type Clock, P1Error, systemClock, type Timer } from "../shared/index.ts";
import type { Source, SourceEvents } from "./source.ts";

/** How to replay a capture file. */
export interface FileSourceOptions {
  readonly path: string;
  /** Bytes per `data` event (default: the whole file in one). */
  readonly chunkBytes?: number;
  /** Wait between chunks (default: none, every chunk at once). */
  readonly intervalMs?: number;
  /** Start over at the end instead of emitting `end`. */
  readonly loop?: boolean;
  readonly clock?: Clock;
}

/**
 * Largest capture replayed: the file is held in memory, and telegrams of about 1 KiB every second make
 * 64 MiB most of a day of a DSMR 5 meter; a larger file is most likely the wrong one.
 */
export const MAX_CAPTURE_BYTES = 64 * 1024 * 1024;

/** Read failures users meet, by errno name. */
const READ_PROBLEMS: Readonly<Record<string, (path: string) => string>> = {
  ENOENT: (path) => `capture file ${path} not found`,
  EACCES: (path) => `permission denied reading capture file ${path}`,
  EPERM: (path) => `permission denied reading capture file ${path}`,
  EISDIR: (path) => `${path} is a directory, not a capture file`,
};

function readError(path: string, error: unknown): P1Error {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  const explain = typeof code === "string" ? READ_PROBLEMS[code] : undefined;
  const message = explain
    ? explain(path)
    : `cannot read capture file ${path}: ${error instanceof Error ? error.message : String(error)}`;
  return new P1Error(
    "SOURCE_DISCONNECTED",
    message,
    { source: `file:${path}`, path, errno: code },
    { cause: error },
  );
}

/** Reads a capture, refusing what is not a regular file (a device would block forever) or too large. */
async function readCapture(path: string, signal: AbortSignal): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    if (!info.isFile())
      throw new P1Error(
        "SOURCE_DISCONNECTED",
        `${path} is not a regular file (read a serial device with the serial source)`,
        { source: `file:${path}`, path },
      );
    size = info.size;
  } catch (e) {
    throw e instanceof P1Error ? e : readError(path, e);
  }
  if (size > MAX_CAPTURE_BYTES)
    throw new P1Error(
      "SOURCE_DISCONNECTED",
      `capture file ${path} has ${size} bytes, more than the ${MAX_CAPTURE_BYTES} a replay holds in memory`,
      { source: `file:${path}`, path, size },
    );
  try {
    return await readFile(path, { signal });
  } catch (e) {
    throw readError(path, e);
  }
}

function positive(value: number | undefined, key: string, min: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min))
    throw new P1Error("CONFIG_INVALID", `file.${key} must be an integer >= ${min}, got ${value}`, {
      key: `file.${key}`,
    });
}

/**
 * Replays a capture file as a source: `open`, the bytes in chunks (asynchronously after `start()`), then
 * `end`, or over and over with `loop`. A file that cannot be read gives `close` with the reason, then `end`.
 */
export class FileSource extends EventEmitter<SourceEvents> implements Source {
  /** `file:<path>`. */
  readonly description: string;
  readonly #path: string;
  readonly #chunkBytes: number | undefined;
  readonly #intervalMs: number | undefined;
  readonly #loop: boolean;
  readonly #clock: Clock;
  #running = false;
  #abort: AbortController | undefined;
  #reading: Promise<void> | undefined;
  #timer: Timer | undefined;
  #bytes: Buffer = Buffer.alloc(0);
  #offset = 0;

  constructor(options: FileSourceOptions) {
    super();
    positive(options.chunkBytes, "chunkBytes", 1);
    positive(options.intervalMs, "intervalMs", 0);
    this.#path = options.path;
    this.#chunkBytes = options.chunkBytes;
    this.#intervalMs = options.intervalMs;
    this.#loop = options.loop ?? false;
    this.#clock = options.clock ?? systemClock;
    this.description = `file:${options.path}`;
  }

  /** Starts the replay from the beginning of the file; idempotent (after `end`, too, until `stop()`). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const abort = new AbortController();
    this.#abort = abort;
    this.#reading = this.#read(abort.signal);
  }

  /** Stops the replay, aborting a read in progress and clearing the chunk timer; idempotent. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort?.abort();
    this.#abort = undefined;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const reading = this.#reading;
    this.#reading = undefined;
    await reading;
    this.#bytes = Buffer.alloc(0);
  }

  async #read(signal: AbortSignal): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readCapture(this.#path, signal);
    } catch (e) {
      if (signal.aborted) return;
      this.emit("close", e instanceof P1Error ? e : readError(this.#path, e));
      this.emit("end");
      return;
    }
    if (signal.aborted) return;
    this.#bytes = bytes;
    this.#offset = 0;
    this.emit("open");
    this.#pump(signal);
  }

  /** Emits the next chunk (all of them without an interval), then schedules the rest or ends. */
  #pump(signal: AbortSignal): void {
    this.#timer = undefined;
    const bytes = this.#bytes;
    const size = this.#chunkBytes ?? bytes.length;
    do {
      // A listener may stop us in the middle of a pass.
      if (signal.aborted) return;
      if (this.#offset < bytes.length) {
        const end = Math.min(bytes.length, this.#offset + size);
        this.emit("data", bytes.subarray(this.#offset, end));
        this.#offset = end;
      }
    } while (this.#intervalMs === undefined && this.#offset < bytes.length);
    if (signal.aborted) return;
    if (this.#offset < bytes.length) {
      this.#schedule(signal, this.#intervalMs ?? 0);
    } else if (this.#loop && bytes.length > 0) {
      this.#offset = 0;
      // Without an interval, one pass per timer tick: a loop must never starve the event loop.
      this.#schedule(signal, this.#intervalMs ?? 0);
    } else {
      // An empty file ends even with `loop`: looping over nothing would spin.
      this.emit("end");
    }
  }

  #schedule(signal: AbortSignal, ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#pump(signal), ms);
  }
}
