import { once } from "node:events";
import { close, closeSync, fstatSync, rmSync, statSync, symlinkSync, writeSync } from "node:fs";
import type { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { ReadStream } from "node:tty";

/** A pseudo-terminal made in this process: readers open `path`, we hold the other (master) end. */
export interface VirtualPort {
  /** The stable path readers open: a symlink to the pty's slave device. */
  readonly path: string;
  /** The slave device itself (`/dev/pts/N`). */
  readonly device: string;
  /** Writes bytes a reader of `path` receives, honouring back-pressure. */
  write(bytes: Buffer): Promise<void>;
  /** What programs wrote into `path` (for a pty standing in for a device that receives, as in tests). */
  received(): Readable;
  /** Closes the pty: the device and the link disappear, as when a USB cable is pulled. */
  close(): Promise<void>;
}

/** Creating a pty failed; the message says why and what to install. */
export class PtyError extends Error {
  override readonly name = "PtyError";
}

/** node-pty's openpty binding: exposed by the package (`native`) for exactly this use. */
interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

let nativePty: Promise<NativePty> | undefined;

/** Loads node-pty on first use only: everything else works where the optional native module is missing. */
function loadNativePty(): Promise<NativePty> {
  nativePty ??= import("node-pty").then(
    (mod) => {
      const native = (mod as { native?: NativePty | null }).native;
      if (!native) throw new PtyError("node-pty offers no openpty on this platform");
      return native;
    },
    (e: unknown) => {
      nativePty = undefined;
      throw new PtyError(
        `a virtual serial port needs the optional package node-pty, which did not load (${(e as Error).message}); ` +
          "it builds during `npm ci` with a C++ compiler, python3 and make (Debian: apt-get install build-essential python3)",
      );
    },
  );
  return nativePty;
}

/**
 * Opens a pty pair and links `path` to its slave. The slave is put in raw mode (no echo, no line editing,
 * no CR/LF translation) so bytes pass unchanged, and we keep one slave descriptor open ourselves so the
 * device stays usable while no reader has it open (the kernel hangs up a pty whose slave was never opened).
 */
export async function openVirtualPort(path: string): Promise<VirtualPort> {
  const native = await loadNativePty();
  let pair: { master: number; slave: number; pty: string };
  try {
    pair = native.open(80, 24);
  } catch (e) {
    throw new PtyError(`cannot create a pty: ${(e as Error).message}`);
  }
  const slaveDevice = statSync(pair.pty).rdev;
  const slave = new ReadStream(pair.slave);
  slave.setRawMode(true);
  slave.pause(); // never read the slave while open: the reader of `path` must get every byte
  slave.on("error", () => {});
  rmSync(path, { force: true });
  symlinkSync(pair.pty, path);
  // node-pty leaves the master non-blocking, and libuv would write to it synchronously (it cannot reopen a
  // pty master), spinning while the reader is slow. So we write with fs.writeSync and, when the pty is full
  // (EAGAIN), wait a little and retry: back-pressure reaches the writer and no byte is dropped.
  let pending: Promise<void> = Promise.resolve();
  let closed = false;
  const isClosed = () => closed;
  let input: ReadStream | undefined;
  return {
    path,
    device: pair.pty,
    received() {
      if (!input) {
        input = new ReadStream(pair.master);
        input.on("error", () => {}); // EIO when the pty closes
      }
      return input;
    },
    write(bytes) {
      if (closed) return Promise.resolve();
      pending = pending
        .then(() => writeAll(pair.master, bytes, isClosed))
        .catch(() => {
          // EIO once the pty is gone: the bytes are lost, as on a pulled cable
        });
      return pending;
    },
    async close() {
      if (closed) return;
      closed = true;
      rmSync(path, { force: true });
      await pending;
      const slaveClosed = once(slave, "close");
      slave.destroy();
      await slaveClosed;
      closeReopenedSlave(pair.slave, slaveDevice);
      if (input) {
        const done = once(input, "close");
        input.destroy(); // closes the master descriptor with it
        await done;
      } else {
        await new Promise<void>((resolve) => close(pair.master, () => resolve()));
      }
    },
  };
}

/**
 * libuv reopens a pty slave given to a tty stream and dup2s the new descriptor over the original, then
 * closes only its own on destroy: the original number stays open (one leaked descriptor per unplug).
 * Closed here, but only while it still is that pty (where libuv did not reopen it, destroy closed it).
 */
function closeReopenedSlave(fd: number, device: number): void {
  try {
    if (fstatSync(fd).rdev === device) closeSync(fd);
  } catch {
    // EBADF: already closed with the stream
  }
}

/**
 * Writes all of `bytes` to the non-blocking master. Written synchronously while the pty takes them (a
 * write to a non-blocking descriptor never waits), so the bytes are in the pty when the caller's
 * promise chain runs it, not one thread-pool round trip later: benches time "last byte written" from it.
 */
async function writeAll(fd: number, bytes: Buffer, stop: () => boolean): Promise<void> {
  let offset = 0;
  let wait = 1;
  while (offset < bytes.length && !stop()) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
      wait = 1;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      await delay(wait);
      wait = Math.min(wait * 2, 20);
    }
  }
}
