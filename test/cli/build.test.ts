import { execFile, spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { build } from "../../src/cli/build.mjs";
import { describeInputs, isFresh } from "../../src/cli/build-manifest.mjs";
import { ROOT } from "../helpers/cli.ts";
import { closeAfterEach } from "../helpers/closers.ts";
import { GatewayTestClient } from "../helpers/grpc-client.ts";

const closers = closeAfterEach();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "p1-build-"));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Sets a file's mtime `seconds` later than it is, keeping its bytes. */
function touchLater(file: string, seconds: number): void {
  const { atime, mtimeMs } = statSync(file);
  utimesSync(file, atime, new Date(mtimeMs + seconds * 1000));
}

function writeManifest(root: string, inputs: string[]): string {
  const path = join(root, "manifest.json");
  writeFileSync(path, JSON.stringify(describeInputs(root, inputs)));
  return path;
}

/** `node ARGS` in `cwd`; stdout, stderr and exit code. */
function node(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("build manifest", () => {
  it("is fresh while every input has the bytes it was built from", () => {
    const root = tempDir();
    writeFileSync(join(root, "a.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "b.ts"), "export const b = 2;\n");
    const manifest = writeManifest(root, ["a.ts", "b.ts"]);
    expect(isFresh(root, manifest)).toBe(true);

    // Same bytes, new mtime (a checkout, an unpacked tarball): the hash decides, still fresh.
    touchLater(join(root, "a.ts"), 5);
    expect(isFresh(root, manifest)).toBe(true);

    // Edited to the same size: only the hash can tell.
    writeFileSync(join(root, "a.ts"), "export const a = 9;\n");
    expect(isFresh(root, manifest)).toBe(false);
  });

  it("is stale when a file changed size, is gone, or the manifest is missing or not ours", () => {
    const root = tempDir();
    writeFileSync(join(root, "a.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "b.ts"), "export const b = 2;\n");
    const manifest = writeManifest(root, ["a.ts", "b.ts"]);

    writeFileSync(join(root, "b.ts"), "export const b = 22;\n");
    expect(isFresh(root, manifest)).toBe(false);
    writeFileSync(join(root, "b.ts"), "export const b = 2;\n");
    expect(isFresh(root, manifest)).toBe(true);

    rmSync(join(root, "b.ts"));
    expect(isFresh(root, manifest)).toBe(false);

    expect(isFresh(root, join(root, "missing.json"))).toBe(false);
    writeFileSync(manifest, "{ not json");
    expect(isFresh(root, manifest)).toBe(false);
    writeFileSync(manifest, JSON.stringify({ format: 0, files: {} }));
    expect(isFresh(root, manifest)).toBe(false);
    writeFileSync(manifest, JSON.stringify({ ...describeInputs(root, []), files: {} }));
    expect(isFresh(root, manifest)).toBe(false);
  });
});

describe("p1-gateway launcher", () => {
  /**
   * A package laid out like this one, with the real launcher and a stand-in main.ts and dist/main.js
   * that say which one ran; node_modules (for tsx) is this repository's.
   */
  function fakePackage(): string {
    const root = tempDir();
    mkdirSync(join(root, "src/cli"), { recursive: true });
    mkdirSync(join(root, "dist"));
    for (const file of ["src/cli/bin.mjs", "src/cli/build-manifest.mjs"]) {
      copyFileSync(join(ROOT, file), join(root, file));
    }
    writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
    symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"), "junction");
    const main = (from: string) =>
      `export async function main(argv: readonly string[]): Promise<number> {\n` +
      `  process.stdout.write(${JSON.stringify(from)} + " " + argv.join(" ") + "\\n");\n  return 3;\n}\n`;
    writeFileSync(join(root, "src/cli/main.ts"), main("source"));
    // The "build": the same module, made JavaScript by hand.
    writeFileSync(
      join(root, "dist/main.js"),
      main("build").replace(": readonly string[]): Promise<number>", ")"),
    );
    writeFileSync(
      join(root, "dist/manifest.json"),
      JSON.stringify(describeInputs(root, ["src/cli/main.ts", "src/cli/bin.mjs"])),
    );
    return root;
  }

  it("runs the build while it matches the sources, and the sources once one changed", async () => {
    const root = fakePackage();
    const bin = join(root, "src/cli/bin.mjs");
    expect(await node([bin, "serve", "x"], root)).toMatchObject({ code: 3, stdout: "build serve x\n" });

    touchLater(join(root, "src/cli/main.ts"), 5); // same bytes
    expect((await node([bin, "a"], root)).stdout).toBe("build a\n");

    // A developer's edit: from now on the sources run, through tsx.
    writeFileSync(
      join(root, "src/cli/main.ts"),
      `${readFileSync(join(root, "src/cli/main.ts"), "utf8")}// edited\n`,
    );
    expect(await node([bin, "a"], root)).toMatchObject({ code: 3, stdout: "source a\n" });

    rmSync(join(root, "dist/manifest.json"));
    writeFileSync(join(root, "src/cli/main.ts"), readFileSync(join(root, "src/cli/main.ts"), "utf8"));
    expect((await node([bin, "a"], root)).stdout).toBe("source a\n");
  });
});

describe("the build (src/cli/build.mjs)", () => {
  it("bundles the CLI so it serves, with its files found and stack traces in src/", async () => {
    const out = tempDir();
    // The bundle loads its dependencies from node_modules beside it, as dist/ does.
    symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"), "junction");
    const manifest = await build(out);
    expect(isFresh(ROOT, manifest)).toBe(true);
    const files = Object.keys((JSON.parse(readFileSync(manifest, "utf8")) as { files: object }).files);
    expect(files).toEqual(expect.arrayContaining(["src/cli/main.ts", "src/cli/serve.ts", "tsconfig.json"]));

    const mainUrl = pathToFileURL(join(out, "main.js")).href;
    const run = `process.setSourceMapsEnabled(true);
      const { main } = await import(${JSON.stringify(mainUrl)});
      process.exitCode = await main(process.argv.slice(1));`;
    // main(null) is a bug's stack trace: it must name the TypeScript source, not dist/main.js.
    const crash = await node(
      [
        "--input-type=module",
        "-e",
        `process.setSourceMapsEnabled(true);
      const { main } = await import(${JSON.stringify(mainUrl)});
      await main(null);`,
      ],
      ROOT,
    );
    expect(crash.stderr).toMatch(/src[\\/]cli[\\/]main\.ts:\d+/);

    // serve reads proto/ and package.json relative to its own source file: they must still be found.
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        run,
        "serve",
        "--simulate",
        "5.0",
        "--host",
        "127.0.0.1",
        "--grpc-port",
        "0",
        "--api-port",
        "0",
        "--status-interval",
        "0",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    closers.push(() => {
      child.kill("SIGKILL");
    });
    let output = "";
    const address = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        output += d.toString();
      });
      child.stdout.on("data", (d: Buffer) => {
        output += d.toString();
        const m = /^gRPC\s+(\S+)/m.exec(output);
        if (m && /^native API\s+\S+:\d+/m.test(output)) resolve(m[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`serve exited (${code}):\n${output}`)));
    });
    const client = new GatewayTestClient(address);
    closers.push(() => client.close());
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect((await client.getInfo()).version).toBe(pkg.version);
  });
});
