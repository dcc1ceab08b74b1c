import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { hasSocat, simulate, startPty, startTcpSink } from "../../simulator/index.ts";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { runCli } from "../helpers/cli.ts";

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

  it.skipIf(!hasSocat())(
    "--pty: a reader opening the printed path through serialport gets the telegrams",
    async () => {
      const { SerialPort } = await import("serialport");
      const pty = await startPty(`/tmp/p1-sim-test-${process.pid}`);
      const port = new SerialPort({ path: pty.path, baudRate: 115200, autoOpen: false });
      try {
        await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
        const decoder = new TelegramDecoder();
        const got = new Promise<number>((resolve) => {
          let n = 0;
          port.on("data", (chunk: Buffer) => {
            n += decoder.push(chunk).filter((d) => d.ok).length;
            if (n >= 3) resolve(n);
          });
        });
        for (const e of simulate({ version: "4.2", seed: 2, count: 4 }))
          if (e.kind === "data") await pty.write(e.bytes);
        expect(await got).toBeGreaterThanOrEqual(3);
      } finally {
        await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
        await pty.close();
      }
    },
  );

  it.skipIf(!hasSocat())(
    "--pty unplug removes the port and replug brings it back under the same path",
    async () => {
      const { SerialPort } = await import("serialport");
      const path = `/tmp/p1-sim-replug-${process.pid}`;
      const pty = await startPty(path);
      const openPort = async () => {
        const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
        await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
        return port;
      };
      const closePort = (port: InstanceType<typeof SerialPort>) =>
        new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
      try {
        const first = await openPort();
        await closePort(first);
        pty.cable("unplug");
        await pty.write(Buffer.from("lost while unplugged"));
        expect(existsSync(path)).toBe(false);
        pty.cable("replug");
        await pty.write(Buffer.alloc(0)); // waits for the replug to finish
        expect(existsSync(path)).toBe(true);
        const again = await openPort();
        try {
          const decoder = new TelegramDecoder();
          const got = new Promise<number>((resolve) => {
            let n = 0;
            again.on("data", (chunk: Buffer) => {
              n += decoder.push(chunk).filter((d) => d.ok).length;
              if (n >= 2) resolve(n);
            });
          });
          for (const e of simulate({ version: "5.0", seed: 3, count: 3 }))
            if (e.kind === "data") await pty.write(e.bytes);
          expect(await got).toBeGreaterThanOrEqual(2);
        } finally {
          await closePort(again);
        }
      } finally {
        await pty.close();
      }
    },
  );

  it.skipIf(!hasSocat())(
    "--serial writes to an existing serial device (one end of a socat pair)",
    async () => {
      const { SerialPort } = await import("serialport");
      const base = `/tmp/p1-sim-serial-${process.pid}`;
      const socat = spawn(
        "socat",
        ["-d", "-d", `pty,raw,echo=0,link=${base}.a`, `pty,raw,echo=0,link=${base}.b`],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          let log = "";
          socat.stderr?.on("data", (c: Buffer) => {
            log += c.toString();
            if (log.includes("starting data transfer loop")) resolve();
          });
          socat.once("exit", () => reject(new Error(`socat exited: ${log}`)));
        });
        const reader = new SerialPort({ path: `${base}.b`, baudRate: 115200, autoOpen: false });
        await new Promise<void>((resolve, reject) => reader.open((err) => (err ? reject(err) : resolve())));
        try {
          const decoder = new TelegramDecoder();
          const got = new Promise<number>((resolve) => {
            let n = 0;
            reader.on("data", (chunk: Buffer) => {
              n += decoder.push(chunk).filter((d) => d.ok).length;
              if (n >= 3) resolve(n);
            });
          });
          const r = await runCli([
            "simulate",
            "--version",
            "5.0",
            "--count",
            "3",
            "--interval",
            "0",
            "--serial",
            `${base}.a`,
          ]);
          expect(r.code, r.stderr).toBe(0);
          expect(await got).toBe(3);
        } finally {
          await new Promise<void>((resolve) => (reader.isOpen ? reader.close(() => resolve()) : resolve()));
        }
      } finally {
        socat.kill("SIGTERM");
        await once(socat, "exit");
      }
    },
  );
});
