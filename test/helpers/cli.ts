import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** The package's bin: tests run the real `p1-gateway` command. */
export const BIN = join(ROOT, "src/cli/bin.mjs");

/** Exit code and output of one command run. */
export interface CliRun {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs `p1-gateway ARGS` in a child process, with optional stdin; bounded by a timeout. */
export function runCli(args: readonly string[], stdin?: Buffer, env?: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: ROOT,
        timeout: 20_000,
        encoding: "buffer",
        maxBuffer: 16 * 1024 * 1024,
        ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
    child.stdin?.end(stdin ?? Buffer.alloc(0));
  });
}
