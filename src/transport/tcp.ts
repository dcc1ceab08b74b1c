import { connect, type Socket } from "node:net";
import { isP1Error, P1Error } from "../shared/index.ts";
import { type BackoffOptions, type Link, type LinkSink, ReconnectingSource } from "./reconnect.ts";

/** Where to connect: a ser2net port or a Wi-Fi P1 dongle's raw TCP server. */
export interface TcpSourceOptions {
  readonly host: string;
  readonly port: number;
  /** Give up a connect attempt after this long (default 10 s; then the backoff retries). */
  readonly connectTimeoutMs?: number;
  readonly reconnect?: BackoffOptions;
  /** Reopen after this long without a byte (null = never; see `ReconnectingOptions`). */
  readonly stallTimeoutMs?: number | null;
}

/** Default connect timeout: a dongle on the LAN answers in milliseconds; 10 s covers a slow Wi-Fi join. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * TCP keepalive probes start after this much silence. A meter writes at least every 10 s (DSMR 2.2/3.0;
 * 1 s from DSMR 5), so a longer silence is already suspicious; keepalive then finds a dead peer (a dongle
 * that lost power sends no FIN) instead of waiting forever.
 */
const KEEPALIVE_INITIAL_DELAY_MS = 30_000;

const noAnswer = (what: string) =>
  `no answer from ${what}: check the address and that the dongle is powered and on the network`;

/** Connection failures users meet, by errno name, with what to check. */
const CONNECT_PROBLEMS: Readonly<Record<string, (target: string, host: string) => string>> = {
  ECONNREFUSED: (target) =>
    `connection to ${target} refused: nothing listens there; is ser2net or the dongle's TCP server running on that port?`,
  EHOSTUNREACH: (target, host) =>
    `host ${host} unreachable (${target}): check the address and that the dongle is powered and on the network`,
  ENETUNREACH: (target) => `network unreachable for ${target}: check the address and this machine's network`,
  ETIMEDOUT: (target) => noAnswer(target),
  ENOTFOUND: (_target, host) => `cannot resolve host name ${host}: check the spelling or use an IP address`,
  EAI_AGAIN: (_target, host) => `cannot resolve host name ${host} now (DNS not answering); retrying`,
  ECONNRESET: (target) => `connection to ${target} reset by the peer`,
  EPIPE: (target) => `connection to ${target} broken`,
};

function codeOf(error: unknown): string | undefined {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Translates a failure to connect to `host:port` into a SOURCE_DISCONNECTED P1Error that says what to check
 * (refused, unreachable, timed out, unknown host); the original error is the cause.
 */
export function describeTcpError(error: unknown, host: string, port: number): P1Error {
  if (isP1Error(error)) return error;
  const target = `${host}:${port}`;
  const code = codeOf(error);
  const explain = code === undefined ? undefined : CONNECT_PROBLEMS[code];
  const message = explain ? explain(target, host) : `cannot connect to ${target}: ${messageOf(error)}`;
  return new P1Error(
    "SOURCE_DISCONNECTED",
    message,
    { source: `tcp:${target}`, host, port, errno: code },
    { cause: error },
  );
}

/** Bytes from a TCP server (ser2net, Wi-Fi P1 dongle), reconnected with backoff until `stop()`. */
export class TcpSource extends ReconnectingSource {
  /** `tcp:<host>:<port>`. */
  readonly description: string;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;

  constructor(options: TcpSourceOptions) {
    super(options.reconnect, { stallTimeoutMs: options.stallTimeoutMs ?? null });
    const { host, port } = options;
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (host === "") throw new P1Error("CONFIG_INVALID", "tcp host must not be empty", { key: "tcp.host" });
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new P1Error("CONFIG_INVALID", `tcp port must be 1-65535, got ${port}`, { key: "tcp.port" });
    if (!(connectTimeoutMs > 0))
      throw new P1Error("CONFIG_INVALID", `tcp connectTimeoutMs must be > 0, got ${connectTimeoutMs}`, {
        key: "tcp.connectTimeoutMs",
      });
    this.host = host;
    this.port = port;
    this.connectTimeoutMs = connectTimeoutMs;
    this.description = `tcp:${host}:${port}`;
  }

  protected describeError(error: unknown): P1Error {
    return describeTcpError(error, this.host, this.port);
  }

  protected openLink(sink: LinkSink, signal: AbortSignal): Promise<Link> {
    const { host, port, connectTimeoutMs, clock } = this;
    const target = `${host}:${port}`;
    return new Promise<Link>((resolve, reject) => {
      const socket: Socket = connect({
        host,
        port,
        keepAlive: true,
        keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
      });
      const fail = (error: unknown) => {
        settle();
        socket.destroy();
        reject(error);
      };
      const onTimeout = () =>
        fail(
          new P1Error("SOURCE_DISCONNECTED", noAnswer(`${target} within ${connectTimeoutMs} ms`), {
            source: this.description,
            host,
            port,
            errno: "ETIMEDOUT",
          }),
        );
      const onAbort = () => fail(new P1Error("SOURCE_DISCONNECTED", `${target}: stopped while connecting`));
      const timer = clock.setTimeout(onTimeout, connectTimeoutMs);
      const onConnect = () => {
        settle();
        resolve(this.#attach(socket, sink));
      };
      function settle() {
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        socket.off("connect", onConnect);
        socket.off("error", fail);
      }
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", onConnect);
      socket.once("error", fail);
    });
  }

  /** Wires a connected socket to the sink and returns the link that closes it. */
  #attach(socket: Socket, sink: LinkSink): Link {
    const target = `${this.host}:${this.port}`;
    let closing = false;
    let lastError: Error | undefined;
    const onData = (chunk: Buffer) => sink.data(chunk);
    // 'error' is always followed by 'close'; remember why, report once on close.
    const onError = (error: Error) => {
      lastError = error;
    };
    const onClose = () => {
      if (closing) return;
      sink.lost(
        lastError
          ? describeTcpError(lastError, this.host, this.port)
          : new P1Error("SOURCE_DISCONNECTED", `${target} closed the connection`, {
              source: this.description,
              host: this.host,
              port: this.port,
            }),
      );
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("close", onClose);
    return {
      close: () =>
        new Promise<void>((resolve) => {
          closing = true;
          socket.off("data", onData);
          if (socket.closed) resolve();
          else {
            socket.once("close", () => resolve());
            socket.destroy();
          }
        }),
    };
  }
}
