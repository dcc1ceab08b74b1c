import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { isP1Error } from "../../src/shared/index.ts";
import { RawFanout, StreamSource } from "../../src/transport/index.ts";
import { eventually } from "../helpers/wait.ts";
import { TEST_TIMEOUT_MS, within } from "./helpers.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A source fed by hand: a real StreamSource over a PassThrough the test writes into. */
function feed() {
  const input = new PassThrough();
  const source = new StreamSource(input, "test");
  source.start();
  cleanups.push(() => source.stop());
  return { source, write: (b: Buffer) => input.write(b) };
}

async function fanoutOn(source: StreamSource, options: { maxClients?: number } = {}): Promise<RawFanout> {
  const fanout = new RawFanout({ source, host: "127.0.0.1", port: 0, ...options });
  cleanups.push(() => fanout.stop());
  await fanout.start();
  return fanout;
}

/** A reader on the fan-out; collects what it receives (unless paused: a reader that never reads). */
async function reader(fanout: RawFanout, options: { paused?: boolean } = {}) {
  const socket: Socket = connect({ host: "127.0.0.1", port: fanout.port });
  cleanups.push(async () => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on("close", () => {
    closed = true;
  });
  socket.on("error", () => {});
  await within(new Promise<void>((resolve) => socket.once("connect", () => resolve())), "connect");
  if (options.paused) socket.pause();
  else socket.on("data", (c: Buffer) => chunks.push(c));
  return {
    socket,
    get bytes() {
      return Buffer.concat(chunks);
    },
    get received() {
      return chunks.reduce((n, c) => n + c.length, 0);
    },
    get closed() {
      return closed;
    },
  };
}

describe("RawFanout", { timeout: TEST_TIMEOUT_MS }, () => {
  it("two readers get exactly the bytes of the source, in order", async () => {
    const { source, write } = feed();
    const fanout = await fanoutOn(source);
    const a = await reader(fanout);
    const b = await reader(fanout);
    await eventually(() => fanout.clients === 2, "2 readers accepted");
    const sent = [Buffer.from("/ISK5\\2M550T-1012\r\n\r\n"), randomBytes(5_000), Buffer.from("!ABCD\r\n")];
    for (const chunk of sent) write(chunk);
    const all = Buffer.concat(sent);
    await eventually(() => a.received >= all.length && b.received >= all.length, "both readers");
    expect(a.bytes.equals(all)).toBe(true);
    expect(b.bytes.equals(all)).toBe(true);
    expect(fanout.served).toBe(2);
  });

  it("a reader that never reads is cut off and counted; the other gets every byte", {
    timeout: 30_000,
  }, async () => {
    const { source, write } = feed();
    const fanout = await fanoutOn(source);
    const slow = await reader(fanout, { paused: true });
    const fast = await reader(fanout);
    await eventually(() => fanout.clients === 2, "2 readers accepted");
    // Paced by the fast reader, so only the slow one falls behind; the kernel's socket buffers take a few
    // MB before the fan-out's own queue grows. 64 MB is far past any loopback buffer.
    const chunk = randomBytes(32 * 1024);
    let sent = 0;
    while (fanout.cutOff === 0 && sent < 64 * 1024 * 1024) {
      write(chunk);
      sent += chunk.length;
      await eventually(() => fast.received === sent, `fast reader at ${sent}`);
    }
    expect(fanout.cutOff).toBe(1);
    expect(fanout.clients).toBe(1);
    slow.socket.resume(); // it sees the end only once it reads what its buffers still hold
    await eventually(() => slow.closed, "the slow reader disconnected");
    for (let i = 0; i < 4; i++) write(chunk);
    sent += 4 * chunk.length;
    await eventually(() => fast.received === sent, "the fast reader after the cut");
    expect(fast.bytes.equals(Buffer.concat(Array(sent / chunk.length).fill(chunk)))).toBe(true);
    expect(fast.closed).toBe(false);
  });

  it("refuses readers beyond maxClients and counts them", async () => {
    const { source } = feed();
    const fanout = await fanoutOn(source, { maxClients: 1 });
    await reader(fanout);
    await eventually(() => fanout.clients === 1, "first reader");
    const second = await reader(fanout);
    await eventually(() => second.closed, "second reader refused");
    expect(fanout.refused).toBe(1);
    expect(fanout.clients).toBe(1);
  });

  it("stop() disconnects every reader and stops listening; idempotent", async () => {
    const { source } = feed();
    const fanout = await fanoutOn(source);
    const a = await reader(fanout);
    await eventually(() => fanout.clients === 1, "reader");
    await Promise.all([fanout.stop(), fanout.stop()]);
    await eventually(() => a.closed, "reader closed");
    expect(source.listenerCount("data")).toBe(0);
    const refused = connect({ host: "127.0.0.1", port: fanout.port });
    const error = await within(new Promise<Error>((resolve) => refused.once("error", resolve)), "refusal");
    expect((error as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("a port in use is a configuration error naming the key", async () => {
    const { source } = feed();
    const first = await fanoutOn(source);
    const second = new RawFanout({ source, host: "127.0.0.1", port: first.port });
    const error = await second.start().catch((e: unknown) => e);
    expect(isP1Error(error, "CONFIG_INVALID")).toBe(true);
    expect((error as Error).message).toBe(`cannot serve the raw fan-out on 127.0.0.1:${first.port}`);
    await second.stop();
  });
});
