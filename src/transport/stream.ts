import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { P1Error } from "../shared/index.ts";
import type { Source, SourceEvents } from "./source.ts";

/**
 * Bytes from any readable stream: standard input (`serve --file -`), a pipe, or a stream a program or test
 * writes into. The stream's end is the source's end; it is never reopened.
 */
export class StreamSource extends EventEmitter<SourceEvents> implements Source {
  readonly description: string;
  readonly #stream: Readable;
  #started = false;
  #ended = false;

  constructor(stream: Readable, description = "stream") {
    super();
    this.#stream = stream;
    this.description = description;
  }

  /** Starts reading; idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stream.on("data", this.#onData);
    this.#stream.once("end", this.#onEnd);
    this.#stream.once("error", this.#onError);
    this.emit("open");
  }

  /** Stops reading and detaches; the stream itself belongs to the caller. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#stream.off("data", this.#onData);
    this.#stream.off("end", this.#onEnd);
    this.#stream.off("error", this.#onError);
    this.#stream.pause();
  }

  readonly #onData = (chunk: Buffer | string) => {
    this.emit("data", typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
  };

  readonly #onEnd = () => {
    if (this.#ended) return;
    this.#ended = true;
    this.emit("close", null);
    this.emit("end");
  };

  readonly #onError = (e: Error) => {
    this.emit(
      "close",
      new P1Error("SOURCE_DISCONNECTED", `${this.description}: ${e.message}`, {}, { cause: e }),
    );
    this.#onEnd();
  };
}
