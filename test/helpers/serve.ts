import { type ChildProcess, spawn } from "node:child_process";
import { BIN, ROOT } from "./cli.ts";

/** A running `p1-gateway serve` child, with what it printed so far. */
export interface ServedGateway {
  readonly child: ChildProcess;
  /** The gRPC address it printed. */
  readonly address: string;
  /** The native API port it printed. */
  readonly apiPort: number;
  /** stdout and stderr so far. */
  output(): string;
}

const children: ChildProcess[] = [];

/** Kills every gateway startServe started (for afterEach). */
export function killServed(): void {
  for (const c of children.splice(0)) c.kill("SIGKILL");
}

/**
 * Starts the real `p1-gateway serve` on free ports, without status lines, then ARGS (later flags win, so
 * ARGS can set `--status-interval` again); resolves once it printed its gRPC and native API addresses.
 */
export async function startServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServedGateway> {
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--grpc-port", "0", "--api-port", "0", "--status-interval", "0", ...args],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  children.push(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve printed no gRPC address:\n${out}\n${err}`)),
      15_000,
    );
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^gRPC\s+(\S+)/m.exec(out);
      if (m && /^native API\s+\S+:\d+/m.test(out)) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}):\n${out}\n${err}`));
    });
  });
  const apiPort = Number(/^native API\s+\S+:(\d+)/m.exec(out)?.[1]);
  return { child, address, apiPort, output: () => `${out}\n${err}` };
}
