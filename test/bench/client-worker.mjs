// Worker entry: a worker thread does not inherit tsx's loader, so it registers tsx's require hook (as
// src/cli/bin.mjs does) before loading the TypeScript client.
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";

register();
createRequire(import.meta.url)("./client-worker.ts");
