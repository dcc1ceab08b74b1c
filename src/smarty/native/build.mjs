#!/usr/bin/env node
// Builds the optional AES-128-GCM addon (gcm.c -> build/Release/p1_gcm.node) with the node-gyp that
// npm carries; `npm ci` runs it from the `prepare` script, by hand: `node src/smarty/native/build.mjs`.
// It never fails: without a compiler, node headers or node-gyp it prints one line and exits 0, and
// Smarty decryption uses node:crypto (see src/gateway/native-gcm.ts). P1_NATIVE_GCM=0 skips the build.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const DIR = dirname(fileURLToPath(import.meta.url));
const ADDON = join(DIR, "build", "Release", "p1_gcm.node");
const LOG = join(DIR, "build", "build.log");
/** A compile of one C file takes about a second; this bounds a node-gyp stuck downloading headers. */
const TIMEOUT_MS = 120_000;

const say = (line) => process.stdout.write(`p1-gateway: ${line}\n`);
const shown = (path) => relative(process.cwd(), path) || path;

/** npm sets npm_config_node_gyp for lifecycle scripts; by hand, the node-gyp of the npm beside node. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
    join(dirname(process.execPath), "node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
  ];
  return candidates.find((path) => path !== undefined && path !== "" && existsSync(path));
}

/**
 * node-gyp downloads node's headers unless told where they are; a node installed with its headers
 * (PREFIX/include/node, as distribution packages do) needs no network. npm's own nodedir setting wins.
 */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = resolve(dirname(process.execPath), "..");
  const headers = join(prefix, "include", "node");
  return existsSync(join(headers, "node_api.h")) && existsSync(join(headers, "common.gypi"))
    ? [`--nodedir=${prefix}`]
    : [];
}

function build() {
  if (process.env.P1_NATIVE_GCM === "0") return "native AES-GCM addon not built (P1_NATIVE_GCM=0)";
  const nodeGyp = findNodeGyp();
  const fallback = "Smarty decryption uses node:crypto";
  if (nodeGyp === undefined) return `native AES-GCM addon not built (node-gyp not found); ${fallback}`;
  const run = spawnSync(process.execPath, [nodeGyp, "rebuild", ...nodedirArgs()], {
    cwd: DIR,
    encoding: "utf8",
    timeout: TIMEOUT_MS,
  });
  mkdirSync(dirname(LOG), { recursive: true });
  writeFileSync(LOG, `${run.stdout ?? ""}${run.stderr ?? ""}${run.error ? `\n${run.error}\n` : ""}`);
  if (run.status !== 0 || !existsSync(ADDON)) {
    const why = run.error ? run.error.message : `node-gyp exited with ${run.status ?? run.signal}`;
    return `native AES-GCM addon not built (${why}; see ${shown(LOG)}); ${fallback}`;
  }
  try {
    // As the loader does: all symbols bound now, so a missing one shows here.
    process.dlopen({ exports: {} }, ADDON, constants.dlopen.RTLD_NOW);
  } catch (error) {
    return `native AES-GCM addon built but does not load (${String(error).split("\n")[0]}); ${fallback}`;
  }
  return `built the native AES-GCM addon ${shown(ADDON)}`;
}

try {
  say(build());
} catch (error) {
  say(`native AES-GCM addon not built (${error}); Smarty decryption uses node:crypto`);
}
