#!/usr/bin/env node
// Launcher for `npx p1-gateway`. It runs the build (dist/main.js, made by `npm ci`: src/cli/build.mjs)
// when dist/manifest.json says it was built from the sources as they are now, so an edited src/ never
// runs stale code; otherwise it runs the TypeScript sources through tsx. The build saves tsx's
// run-time compiling: ~13 MB idle RSS and a third of the start-up CPU (issue 8).
// tsx's require hook, not its ESM loader: the loader runs in a worker thread (its own V8 heap, about
// 20 MB) and answers every module load across threads, which made start-up ~25 % slower (issue 8).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isFresh } from "./build-manifest.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MANIFEST = fileURLToPath(new URL("../../dist/manifest.json", import.meta.url));

async function loadMain() {
  if (isFresh(ROOT, MANIFEST)) {
    // Stack traces then name the src/ file and line, through dist/main.js.map.
    process.setSourceMapsEnabled(true);
    return (await import("../../dist/main.js")).main;
  }
  const { register } = await import("tsx/cjs/api");
  register();
  return createRequire(import.meta.url)("./main.ts").main;
}

try {
  const main = await loadMain();
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // A bug, not bad input (main maps those to exit 1/2): say so plainly, exit 70 (EX_SOFTWARE).
  process.stderr.write(
    `p1-gateway: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 70;
}
