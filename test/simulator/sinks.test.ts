import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { SerialPort } from "serialport";
import { describe, expect, it } from "vitest";
import { openVirtualPort, simulate, startPty, startTcpSink } from "../../simulator/index.ts";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { BIN, ROOT, runCli } from "../helpers/cli.ts";

/** Collects decoded telegrams from a socket until `n` have arrived. */
function readTelegrams(socket: Socket, n: number): Promise<string[]> {
  const decoder = new TelegramDecoder();
  const headers: string[] = [];
  return new Promise((resolve, reject) => {
    socket.on("data", (chunk: Buffer) => {
      for (const d of decoder.push(chunk)) {
        if (!d.ok) reject(d.error);
        else headers.push(JSON.stringify(d.telegram.objects.map((o) => o.obis)));
      }
      if (headers.length >= n) resolve(headers);
    });
    socket.once("error", reject);
  });
}

describe("sinks", () => {
  it("--tcp serves every byte to two readers at once (loopback, port 0)", async () => {
    const tcp = await startTcpSink(0, "127.0.0.1");
    try {
      const connected = new Promise<void>((resolve) => {
        let n = 0;
        tcp.events.on("connection", () => {
          if (++n === 2) resolve();
        });
      });
      const a = connect(tcp.port, "127.0.0.1");
      const b = connect(tcp.port, "127.0.0.1");
      await connected;
      const count = 5;
      const reading = Promise.all([readTelegrams(a, count), readTelegrams(b, count)]);
      for (const e of simulate({ version: "5.0", seed: 1, count, faults: { chunk: 0.5 } })) {
        if (e.kind === "data") await tcp.write(e.bytes);
      }
      const [ra, rb] = await reading;
      expect(ra).toHaveLength(count);
      expect(ra).toEqual(rb);
      a.destroy();
      b.destroy();
    } finally {
      await tcp.close();
    }
  });

  it("unplug drops the TCP readers", async () => {
    const tcp = await startTcpSink(0);
    try {
      const accepted = once(tcp.events, "connection");
      const a = connect(tcp.port, "127.0.0.1");
      await accepted;
      const closed = once(a, "close");
      tcp.cable("unplug");
      await closed;
      expect(tcp.clients).toBe(0);
    } finally {
      await tcp.close();
    }
  });

  it("--pty: a reader opening the printed path through serialport gets the telegrams", async () => {
    const pty = await startPty(`/tmp/p1-sim-test-${process.pid}`);
    const port = await openReader(pty.path);
    try {
      const got = countTelegrams(port, 3);
      for (const e of simulate({ version: "4.2", seed: 2, count: 4 }))
        if (e.kind === "data") await pty.write(e.bytes);
      expect(await got).toBeGreaterThanOrEqual(3);
    } finally {
      await closeReader(port);
      await pty.close();
    }
  });

  it("--pty unplug removes the port and replug brings it back under the same path", async () => {
    const path = `/tmp/p1-sim-replug-${process.pid}`;
    const pty = await startPty(path);
    try {
      await closeReader(await openReader(path));
      pty.cable("unplug");
      await pty.write(Buffer.from("lost while unplugged"));
      expect(existsSync(path)).toBe(false);
      pty.cable("replug");
      await pty.write(Buffer.alloc(0)); // waits for the replug to finish
      expect(existsSync(path)).toBe(true);
      const again = await openReader(path);
      try {
        const got = countTelegrams(again, 2);
        for (const e of simulate({ version: "5.0", seed: 3, count: 3 }))
          if (e.kind === "data") await pty.write(e.bytes);
        expect(await got).toBeGreaterThanOrEqual(2);
      } finally {
        await closeReader(again);
      }
    } finally {
      await pty.close();
    }
  });

  it("--serial writes to an existing serial device (a pty whose other end the test reads)", async () => {
    const port = await openVirtualPort(`/tmp/p1-sim-serial-${process.pid}`);
    try {
      const got = countTelegrams(port.received(), 3);
      const r = await runCli([
        "simulate",
        "--version",
        "5.0",
        "--count",
        "3",
        "--interval",
        "0",
        "--serial",
        port.path,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(await got).toBe(3);
    } finally {
      await port.close();
    }
  });

  it("p1-gateway simulate --pty prints a path a serialport reader gets telegrams from, and removes it on Ctrl-C", async () => {
    const child = spawn(
      process.execPath,
      [BIN, "simulate", "--version", "smarty", "--key", KEY, "--pty", "--interval", "20"],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      const [first] = (await once(child.stdout, "data")) as [Buffer];
      const path = first.toString().trim().split("\n")[0] ?? "";
      expect(existsSync(path), stderr).toBe(true);
      const reader = await openReader(path);
      try {
        expect(await countTelegrams(reader, 3, KEY)).toBeGreaterThanOrEqual(3);
      } finally {
        await closeReader(reader);
      }
      const exited = once(child, "exit");
      child.kill("SIGINT");
      expect((await exited)[0], stderr).toBe(0);
      expect(existsSync(path)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

const KEY = "000102030405060708090a0b0c0d0e0f";

/** Opens a pty or serial device for reading through serialport. */
async function openReader(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  return port;
}

function closeReader(port: SerialPort): Promise<void> {
  return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
}

/** Resolves once `n` valid telegrams have been decoded from the stream. */
function countTelegrams(port: NodeJS.ReadableStream, n: number, key?: string): Promise<number> {
  const decoder = new TelegramDecoder(key === undefined ? {} : { decryptionKey: Buffer.from(key, "hex") });
  let seen = 0;
  return new Promise((resolve) => {
    port.on("data", (chunk: Buffer) => {
      seen += decoder.push(chunk).filter((d) => d.ok).length;
      if (seen >= n) resolve(seen);
    });
  });
}
