#!/usr/bin/env node
// Launcher for `npx p1-gateway`: registers tsx so the TypeScript sources run without a build step.
// tsx's require hook, not its ESM loader: the loader runs in a worker thread (its own V8 heap, about
// 20 MB) and answers every module load across threads, which made start-up ~25 % slower (issue 8).
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";

register();
const { main } = createRequire(import.meta.url)("./main.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // A bug, not bad input (main maps those to exit 1/2): say so plainly, exit 70 (EX_SOFTWARE).
  process.stderr.write(
    `p1-gateway: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 70;
}
