import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isP1Error, type P1Error } from "../../src/shared/index.ts";
import { describeTcpError, TcpSource, type TcpSourceOptions } from "../../src/transport/index.ts";
import { EventLog, RecordingClock, TEST_TIMEOUT_MS, within } from "./helpers.ts";

const HOST = "127.0.0.1";
// Real waits, short so retries run in milliseconds; the default 0.5 s…30 s sequence is reconnect.test.ts's.
const RECONNECT = { initialMs: 5, maxMs: 40 } as const;
// Generous: a loaded machine must not turn a loopback connect into a timeout.
const CONNECT_TIMEOUT_MS = 5_000;

// Everything a test opened, closed after it whatever happened.
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A ser2net stand-in on loopback: remembers its connections so a test can drop them. */
interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly sockets: Socket[];
  /** Resolves with the next accepted connection. */
  nextConnection(): Promise<Socket>;
  close(): Promise<void>;
}

async function startServer(port = 0): Promise<TestServer> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.on("error", () => {}); // the source going away mid-write is part of these tests
    sockets.push(socket);
  });
  server.listen(port, HOST);
  await within(once(server, "listening"), "listening");
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return {
    server,
    port: actual,
    sockets,
    nextConnection: () => within(once(server, "connection"), "a connection").then(([s]) => s as Socket),
    close,
  };
}

function tcpSource(options: Partial<TcpSourceOptions> & { port: number }, clock = new RecordingClock()) {
  const source = new TcpSource({
    host: HOST,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    ...options,
    reconnect: { ...RECONNECT, ...options.reconnect, clock },
  });
  cleanups.push(() => source.stop());
  return { source, log: new EventLog(source), clock };
}

describe("TcpSource on loopback", { timeout: TEST_TIMEOUT_MS }, () => {
  it("connects and emits the bytes the server writes", async () => {
    const server = await startServer();
    const accepted = server.nextConnection();
    const { source, log } = tcpSource({ port: server.port });
    expect(source.description).toBe(`tcp:${HOST}:${server.port}`);
    source.start();
    source.start();
    const socket = await accepted;
    await log.waitFor("open");
    socket.write("/ISK5\\2M550T-1012\r\n");
    socket.write("!ABCD\r\n");
    await log.waitForBytes("!ABCD\r\n");
    expect(log.bytes.toString()).toBe("/ISK5\\2M550T-1012\r\n!ABCD\r\n");
    expect(server.sockets).toHaveLength(1);
  });

  it("a connection that stays silent is closed by the stall watchdog and reconnected", async () => {
    const server = await startServer();
    let accepted = server.nextConnection();
    const { source, log } = tcpSource({ port: server.port, stallTimeoutMs: 100 });
    source.start();
    await accepted;
    await log.waitFor("open");
    accepted = server.nextConnection();
    // The dongle hangs without closing: only the watchdog notices.
    await log.waitFor("close");
    expect(isP1Error(log.closes[0], "SOURCE_DISCONNECTED")).toBe(true);
    expect(log.closes[0]?.message).toBe(`no data for 0.1 s: reopening tcp:${HOST}:${server.port}`);
    const second = await accepted;
    await log.waitFor("open", 2);
    second.write("after");
    await log.waitForBytes("after");
  });

  it("the server closing the connection gives close, then a reconnect and the new bytes", async () => {
    const server = await startServer();
    const { source, log, clock } = tcpSource({ port: server.port });
    let accepted = server.nextConnection();
    source.start();
    const first = await accepted;
    await log.waitFor("open");
    accepted = server.nextConnection();
    first.end(); // ser2net restarted, or the dongle dropped us
    await log.waitFor("close");
    expect(log.closes[0]?.message).toBe(`${HOST}:${server.port} closed the connection`);
    const second = await accepted;
    await log.waitFor("open", 2);
    second.write("after");
    await log.waitForBytes("after");
    expect(log.kinds).toEqual(["open", "close", "open", "data"]);
    expect(source.reconnects).toBe(1);
    expect(clock.delays).toContain(RECONNECT.initialMs);
  });

  it("server down: one clear error, silent retries with growing delays, connects when it is back", async () => {
    const probe = await startServer();
    const port = probe.port;
    await probe.close(); // nothing listens on `port` now
    const { source, log, clock } = tcpSource({ port });
    source.start();
    await log.until(() => source.openFailures >= 6, "6 refused connects");
    expect(log.kinds).toEqual(["close"]);
    const refused = log.closes[0];
    expect(isP1Error(refused, "SOURCE_DISCONNECTED")).toBe(true);
    expect(refused?.message).toBe(
      `connection to ${HOST}:${port} refused: nothing listens there; is ser2net or the dongle's TCP server running on that port?`,
    );
    expect(refused?.context).toMatchObject({ errno: "ECONNREFUSED", host: HOST, port });
    // The delays requested (connect timeouts left out): doubling up to the cap.
    expect(clock.delays.filter((ms) => ms !== CONNECT_TIMEOUT_MS).slice(0, 5)).toEqual([5, 10, 20, 40, 40]);

    const server = await startServer(port);
    await log.waitFor("open");
    expect(server.sockets.length).toBeGreaterThanOrEqual(1);
    expect(source.reconnects).toBe(0);
  });

  it("a server that never answers: connect timeout with a clear message, then retries", async () => {
    const port = await blackholePort();
    const { source, log } = tcpSource({ port, connectTimeoutMs: 100 });
    source.start();
    await log.waitFor("close", 1, 5_000);
    expect(log.closes[0]?.message).toBe(
      `no answer from ${HOST}:${port} within 100 ms: check the address and that the dongle is powered and on the network`,
    );
    await log.until(() => source.openFailures >= 2, "a second timed-out attempt", 5_000);
    expect(log.closes).toHaveLength(1);
  });

  it("stop() closes the connection and clears every timer; idempotent", async () => {
    const server = await startServer();
    const accepted = server.nextConnection();
    const { source, log, clock } = tcpSource({ port: server.port });
    source.start();
    const socket = await accepted;
    await log.waitFor("open");
    const serverSawClose = once(socket, "close");
    await Promise.all([source.stop(), source.stop()]);
    await within(serverSawClose, "the server side to close");
    expect(clock.pending).toBe(0);
    expect(log.kinds).toEqual(["open"]); // our own close is not a disconnect
  });

  it("stop() during a connect attempt and during the backoff wait leaves nothing behind", async () => {
    const port = await blackholePort();
    const connecting = tcpSource({ port });
    connecting.source.start();
    await connecting.source.stop();
    expect(connecting.clock.pending).toBe(0);
    expect(connecting.log.kinds).toEqual([]);

    const probe = await startServer();
    await probe.close();
    const waiting = tcpSource({ port: probe.port, reconnect: { initialMs: 60_000, maxMs: 60_000 } }); // stays in its backoff wait
    waiting.source.start();
    await waiting.log.waitFor("close");
    expect(waiting.clock.pending).toBe(1);
    await waiting.source.stop();
    expect(waiting.clock.pending).toBe(0);
  });
});

describe("TcpSource options and errors", { timeout: TEST_TIMEOUT_MS }, () => {
  it.each([
    [{ host: "", port: 1 }, "tcp.host"],
    [{ host: HOST, port: 0 }, "tcp.port"],
    [{ host: HOST, port: 70_000 }, "tcp.port"],
    [{ host: HOST, port: 2001, connectTimeoutMs: 0 }, "tcp.connectTimeoutMs"],
  ])("rejects %o naming the key", (options, key) => {
    let error: unknown;
    try {
      new TcpSource(options);
    } catch (e) {
      error = e;
    }
    expect(isP1Error(error, "CONFIG_INVALID")).toBe(true);
    expect((error as P1Error).context?.key).toBe(key);
  });

  it.each([
    ["EHOSTUNREACH", "host 10.0.0.5 unreachable (10.0.0.5:2001): check the address"],
    ["ENETUNREACH", "network unreachable for 10.0.0.5:2001"],
    ["ETIMEDOUT", "no answer from 10.0.0.5:2001"],
    ["ENOTFOUND", "cannot resolve host name 10.0.0.5"],
    ["ECONNRESET", "connection to 10.0.0.5:2001 reset by the peer"],
    ["EWHATEVER", "cannot connect to 10.0.0.5:2001: boom"],
  ])("%s", (code, expected) => {
    const error = describeTcpError(Object.assign(new Error("boom"), { code }), "10.0.0.5", 2001);
    expect(isP1Error(error, "SOURCE_DISCONNECTED")).toBe(true);
    expect(error.message).toContain(expected);
    expect(error.context).toMatchObject({ errno: code, host: "10.0.0.5", port: 2001 });
  });
});

/**
 * A loopback port whose SYNs go unanswered: a child process listens with backlog 1 and then blocks its
 * event loop, so it never accepts; two filler connections fill the accept queue and the kernel drops
 * every later SYN, which a client sees as a server that never answers.
 */
async function blackholePort(): Promise<number> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "-e",
      `const server = require("node:net").createServer();
       server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
         process.stdout.write(server.address().port + "\\n");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000); // never accept; bounded
       });`,
    ],
    { stdio: ["ignore", "pipe", "inherit"], timeout: 30_000 },
  );
  cleanups.push(() => {
    child.kill("SIGKILL");
  });
  const stdout = child.stdout;
  if (!stdout) throw new Error("no stdout from the blackhole child");
  const [line] = (await within(once(stdout, "data"), "the blackhole port")) as [Buffer];
  const port = Number(line.toString().trim());
  for (let i = 0; i < 2; i++) {
    const filler = connect(port, HOST);
    filler.on("error", () => {});
    cleanups.push(() => {
      filler.destroy();
    });
    await within(once(filler, "connect"), "a filler connection");
  }
  return port;
}
