#!/usr/bin/env node
// The build (`npm ci` runs it as the `prepare` script; by hand: `node src/cli/build.mjs [OUTDIR]`):
// bundles the CLI, src/cli/main.ts and what it imports from src/ and simulator/, into one plain
// JavaScript file, dist/main.js with its source map, so `p1-gateway` starts without tsx compiling
// TypeScript at run time (issue 8: ~13 MB less idle RSS, less start-up CPU). Dependencies stay
// external, loaded from node_modules as before. Then it writes dist/manifest.json, the inputs with
// their size, mtime and hash: bin.mjs runs the build only while it matches the sources, tsx otherwise.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { describeInputs } from "./build-manifest.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ENTRY = "src/cli/main.ts";
/** Inputs the bundle depends on besides the modules esbuild reports: this script and the compiler settings. */
const EXTRA_INPUTS = ["src/cli/build.mjs", "src/cli/build-manifest.mjs", "tsconfig.json"];
const IMPORT_META_URL = /\bimport\.meta\.url\b/;

/**
 * A module that asks for its own location (`import.meta.url`: the .proto files, package.json) must get
 * the location of its source file, not of the bundle: the expression is rewritten, per module, to the
 * source's URL relative to the bundle, so the paths it computes stay the same.
 */
function sourceUrlPlugin(outdir) {
  return {
    name: "source-import-meta-url",
    setup(build) {
      // Only our own .ts files: dependencies are external (packages: "external").
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const text = readFileSync(args.path, "utf8");
        if (!IMPORT_META_URL.test(text)) return { contents: text, loader: "ts" };
        const fromBundle = relative(outdir, args.path).split("\\").join("/");
        const url = `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`;
        return { contents: text.replace(new RegExp(IMPORT_META_URL, "g"), url), loader: "ts" };
      });
    },
  };
}

/** esbuild's options for a bundle of `entry` (relative to the root) and what it imports from our sources. */
function bundleOptions(entry, outfile) {
  return {
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
    plugins: [sourceUrlPlugin(dirname(outfile))],
  };
}

/**
 * Bundles `entry` into `outfile` as the build bundles the CLI (the throughput benches measure the
 * protocol engine in this form, the one the gateway runs). `outfile` must lie inside the project, so
 * that the bundle finds the dependencies in node_modules.
 */
export async function bundle(entry, outfile) {
  await esbuild.build(bundleOptions(entry, outfile));
}

/** Builds into `outdir` (default dist/); returns the manifest's path. */
export async function build(outdir = join(ROOT, "dist")) {
  const manifestPath = join(outdir, "manifest.json");
  // The manifest goes first and comes back last: a build cut off half-way is never taken for fresh.
  rmSync(manifestPath, { force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await esbuild.build({
    ...bundleOptions(ENTRY, join(outdir, "main.js")),
    // Stack traces point at src/ (bin.mjs turns source maps on); the sources themselves are beside it.
    sourcemap: "linked",
    sourcesContent: false,
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(ROOT, resolve(ROOT, p)));
  const manifest = describeInputs(ROOT, [...inputs, ...EXTRA_INPUTS]);
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 1)}\n`);
  return manifestPath;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = process.argv[2] ? resolve(process.argv[2]) : undefined;
  const manifestPath = await build(outdir);
  process.stdout.write(
    `p1-gateway: built ${relative(process.cwd(), dirname(manifestPath)) || "."}/main.js\n`,
  );
}
