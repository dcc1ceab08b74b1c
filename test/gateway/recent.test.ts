import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Simulator, type SimulatorOptions, simulate } from "../../simulator/index.ts";
import { Gateway, RECENT_TELEGRAMS_IN_ALL, recentTelegramsPerSource } from "../../src/gateway/index.ts";
import { RecentTelegrams } from "../../src/gateway/recent.ts";
import { StreamSource } from "../../src/transport/stream.ts";

const KEY = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");

/** A gateway on one stream source; bytes pushed arrive synchronously once the stream flows. */
async function harness(recentTelegrams: number, key?: Buffer) {
  const stream = new Readable({ read() {} });
  const gateway = new Gateway({
    name: "test",
    version: "0.0.0",
    recentTelegrams,
    sources: [
      {
        id: "home",
        source: new StreamSource(stream, "test"),
        ...(key ? { decoder: { decryptionKey: key } } : {}),
      },
    ],
  });
  gateway.start();
  await new Promise((r) => process.nextTick(r));
  return { gateway, push: (b: Buffer) => stream.push(b) };
}

function telegrams(options: SimulatorOptions): { bytes: Buffer[]; ids: string[] } {
  const sim = new Simulator(options);
  const bytes = [...simulate(options, sim)].flatMap((e) => (e.kind === "data" ? [e.bytes] : []));
  return { bytes, ids: [] };
}

describe("Gateway.recentTelegrams", () => {
  it("keeps the last N telegrams, delivered and dropped, oldest first, equipment ids masked", async () => {
    const h = await harness(3);
    const { bytes } = telegrams({ version: "5.0", seed: 3, count: 5 });
    for (const b of bytes.slice(0, 4)) h.push(b);
    // A fifth telegram with a flipped digit: dropped as CRC_MISMATCH, and kept.
    const bad = Buffer.from(bytes[4] as Buffer);
    const at = bad.indexOf("1-0:1.8.1(") + 12;
    bad[at] = (bad[at] as number) ^ 0x01;
    h.push(bad);
    const recent = h.gateway.recentTelegrams();
    expect(recent.map((t) => t.outcome)).toEqual(["OK", "OK", "CRC_MISMATCH"]);
    const meters = h.gateway.info().sources[0]?.meters ?? [];
    expect(meters.length).toBeGreaterThan(0);
    for (const t of recent) {
      expect(t).toMatchObject({ sourceId: "home", encrypted: false, frameHeader: null });
      expect(t.maskedValues).toBe(2); // 0-0:96.1.1 and 0-1:96.1.0
      expect(t.text).toMatch(/^0-0:96\.1\.1\(X+\)\r$/m);
      for (const m of meters) {
        expect(t.text).not.toContain(m.equipmentId);
        expect(t.text).not.toContain(
          Buffer.from(m.equipmentId ?? "")
            .toString("hex")
            .toUpperCase(),
        );
      }
    }
    // '/' up to and including the CRC digits, as the framer delivered it.
    expect(recent[2]?.bytes).toBe(bad.lastIndexOf("!") + 5);
    await h.gateway.stop();
  });

  it("encrypted frames: the decrypted telegram masked, the system title masked, never the key", async () => {
    const h = await harness(10, KEY);
    const { bytes } = telegrams({ version: "smarty", seed: 5, count: 2, key: KEY });
    for (const b of bytes) h.push(b);
    const recent = h.gateway.recentTelegrams();
    expect(recent).toHaveLength(2);
    const systemTitle = (bytes[0] as Buffer).subarray(2, 10).toString("hex").toUpperCase();
    for (const t of recent) {
      expect(t).toMatchObject({ outcome: "OK", encrypted: true });
      expect(t.frameHeader).toMatch(/^DB08X{16}82[0-9A-F]{4}30[0-9A-F]{8}$/);
      expect(t.text).toMatch(/^\/[^\n]+\r\n/);
      expect(t.text).toMatch(/^0-0:42\.0\.0\(X+\)\r$/m);
      const all = JSON.stringify(t);
      expect(all).not.toContain(systemTitle);
      expect(all.toUpperCase()).not.toContain(KEY.toString("hex").toUpperCase());
    }
    await h.gateway.stop();
  });

  it("bytes outside printable ASCII are written as \\xNN; a capacity of 0 keeps nothing", async () => {
    const h = await harness(2);
    h.push(Buffer.from([0x2f, 0x41, 0x00, 0xff, 0x0d, 0x0a, 0x21, 0x0d, 0x0a]));
    const [t] = h.gateway.recentTelegrams();
    expect(t?.text).toContain("\\x00\\xff");
    const none = await harness(0);
    none.push(telegrams({ version: "5.0", seed: 1, count: 1 }).bytes[0] as Buffer);
    expect(none.gateway.recentTelegrams()).toEqual([]);
    expect(none.gateway.info().counters.telegramsOk).toBe(1);
    await h.gateway.stop();
    await none.gateway.stop();
  });
});

describe("recent telegrams by default", () => {
  it("10 per source up to 100 sources, then RECENT_TELEGRAMS_IN_ALL shared out, at least 1 each", async () => {
    expect(RECENT_TELEGRAMS_IN_ALL).toBe(1_000);
    expect([1, 100, 101, 250, 1_000, 5_000].map(recentTelegramsPerSource)).toEqual([10, 10, 9, 4, 1, 1]);
    const streams = Array.from({ length: 250 }, () => new Readable({ read() {} }));
    const gateway = new Gateway({
      name: "test",
      version: "0.0.0",
      sources: streams.map((stream, i) => ({ id: `m${i}`, source: new StreamSource(stream, `test ${i}`) })),
    });
    gateway.start();
    await new Promise((r) => process.nextTick(r));
    const { bytes } = telegrams({ version: "5.0", seed: 4, count: 6 });
    for (const b of bytes) streams[7]?.push(b);
    const kept = gateway.recentTelegrams();
    expect(kept.map((t) => t.sourceId)).toEqual(["m7", "m7", "m7", "m7"]);
    expect(kept.every((t) => t.outcome === "OK")).toBe(true);
    expect(gateway.info().counters.telegramsOk).toBe(6);
    await gateway.stop();
  });
});

describe("RecentTelegrams ring", () => {
  it("reuses its slots' buffers: each kept telegram is exactly its own bytes, copied, whatever its length", () => {
    const ring = new RecentTelegrams(2);
    const text = (n: number, c: string) => Buffer.from(`/${c.repeat(n)}!`, "latin1");
    const long = text(900, "L");
    ring.add(1, "OK", long, null);
    ring.add(2, "OK", text(10, "S"), null);
    // The third goes into the first slot, whose buffer is larger: no tail of the long one may remain.
    const short = text(20, "T");
    ring.add(3, "CRC_MISMATCH", short, null);
    short.fill(0x41); // the caller's buffer changes afterwards; the kept copy must not
    expect(ring.list("s").map((t) => [t.receivedAtMs, t.outcome, t.bytes, t.text])).toEqual([
      [2, "OK", 12, `/${"S".repeat(10)}!`],
      [3, "CRC_MISMATCH", 22, `/${"T".repeat(20)}!`],
    ]);
    // A slot that held bytes can hold none (a frame with no plaintext), and a longer one than it has room for.
    ring.add(4, "TRUNCATED", null, null);
    ring.add(5, "OK", text(2_000, "X"), null);
    expect(ring.list("s").map((t) => [t.receivedAtMs, t.bytes, t.text?.length ?? null])).toEqual([
      [4, 0, null],
      [5, 2_002, 2_002],
    ]);
  });
});
