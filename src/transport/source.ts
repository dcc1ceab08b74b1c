import type { EventEmitter } from "node:events";
import type { P1Error } from "../shared/index.ts";

/** What a source emits. Bytes are delivered as they arrive; framing is the gateway's job. */
export interface SourceEvents {
  /** Raw bytes from the meter. */
  data: [Buffer];
  /** The link is up (first open and every reconnect). */
  open: [];
  /** The link went down; `error` says why (SOURCE_DISCONNECTED with the cause in its context). */
  close: [error: P1Error | null];
  /** No more bytes will ever come (end of a replayed file or a finite simulation). */
  end: [];
  /** Something the user should fix while reading goes on (a data-request line the port cannot raise). */
  warning: [error: P1Error];
}

/** A byte stream from one meter: serial port, TCP client, file replay or the embedded simulator. */
export interface Source extends EventEmitter<SourceEvents> {
  /** Where the bytes come from, without secrets: `serial:/dev/ttyUSB0`, `tcp:10.0.0.5:2001`. */
  readonly description: string;
  /** Failed attempts to open the link, for sources that reopen one (serial, TCP); absent = never fails. */
  readonly openFailures?: number;
  /** Starts reading (and reconnecting); idempotent. */
  start(): void;
  /** Stops reading, closes every handle and clears every timer; idempotent. */
  stop(): Promise<void>;
}
