import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** STYLE.md's dependency table: what each module may import (besides node: built-ins and packages). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  "src/shared": [],
  "src/dsmr": ["src/shared"],
  "src/smarty": ["src/shared"],
  "src/transport": ["src/shared"],
  "src/meters": ["src/dsmr", "src/shared"],
  "src/gateway": ["src/dsmr", "src/smarty", "src/meters", "src/transport", "src/shared"],
  "src/api": ["src/gateway", "src/meters", "src/shared"],
  "src/discovery": ["src/gateway", "src/meters", "src/shared"],
  "src/config": ["src/shared", "src/dsmr"],
  simulator: ["src/dsmr", "src/smarty", "src/shared"],
  "src/cli": ["*"],
};
/** Modules that must stay pure: no I/O, timers or process access. */
const PURE = ["src/dsmr", "src/smarty", "src/meters"];
const IMPURE_RE =
  /from "node:(fs|net|dgram|child_process|http|https|tls)"|\bsetTimeout\(|\bsetInterval\(|\bprocess\.|console\./;

function files(dir: string): string[] {
  const abs = join(ROOT, dir);
  try {
    statSync(abs);
  } catch {
    return [];
  }
  return readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

function moduleOf(path: string): string | undefined {
  return Object.keys(ALLOWED)
    .filter((m) => path === m || path.startsWith(`${m}/`))
    .sort((a, b) => b.length - a.length)[0];
}

describe("architecture", () => {
  const all = Object.keys(ALLOWED).flatMap(files);

  it("finds the sources", () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it.each(all)("%s imports only what STYLE.md allows", (file) => {
    const own = moduleOf(file) as string;
    const allowed = ALLOWED[own] ?? [];
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const m of text.matchAll(/from "(\.[^"]+)"/g)) {
      const target = relative(ROOT, join(dirname(join(ROOT, file)), m[1] as string));
      const targetModule = moduleOf(target);
      if (targetModule === own || allowed.includes("*")) continue;
      expect(allowed, `${file} imports ${target}`).toContain(targetModule);
    }
  });

  it.each(all.filter((f) => PURE.some((p) => f.startsWith(`${p}/`))))("%s is pure", (file) => {
    expect(readFileSync(join(ROOT, file), "utf8")).not.toMatch(IMPURE_RE);
  });
});
