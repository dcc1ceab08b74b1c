import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIAGNOSTICS_HELP } from "../src/cli/diagnostics.ts";
import { DISCOVER_HELP } from "../src/cli/discover.ts";
import { PARSE_HELP } from "../src/cli/parse.ts";
import { PORTS_HELP } from "../src/cli/ports.ts";
import { PROBE_HELP } from "../src/cli/probe.ts";
import { SERVE_HELP } from "../src/cli/serve.ts";
import { SIMULATE_HELP } from "../src/cli/simulate.ts";
import { METER_KEYS, TOP_LEVEL_KEYS } from "../src/config/schema.ts";
import { describeSerialError } from "../src/transport/index.ts";
import { ROOT } from "./helpers/cli.ts";

// The guides are followed by people without other sources: every command line and configuration key
// they quote must exist. Checked against the commands' own help texts and the configuration's key table.

const HELP: Readonly<Record<string, string>> = {
  parse: PARSE_HELP,
  simulate: SIMULATE_HELP,
  serve: SERVE_HELP,
  ports: PORTS_HELP,
  probe: PROBE_HELP,
  discover: DISCOVER_HELP,
  diagnostics: DIAGNOSTICS_HELP,
};
const BAUD_KEYS = ["baudRate", "dataBits", "parity", "stopBits"];
const CONFIG_KEYS = new Set([...TOP_LEVEL_KEYS, ...Object.keys(METER_KEYS), ...BAUD_KEYS]);
/** ser2net's own keys, quoted in the remote-meter guide. */
const SER2NET_KEYS = new Set(["accepter", "connector", "remaddr", "kickolduser", "timeout", "options"]);

const DOCS = [
  ...readdirSync(join(ROOT, "hardware")).map((f) => `hardware/${f}`),
  "README.md",
  "simulator/README.md",
];
const text = (file: string) => readFileSync(join(ROOT, file), "utf8");

/** `p1-gateway CMD …` up to the end of the line, a closing backtick, a pipe or a shell comment. */
function commandLines(file: string): { line: number; command: string; args: string }[] {
  return (
    text(file)
      .split("\n")
      .flatMap((l, i) =>
        [...l.matchAll(/(?<![\w/.-])p1-gateway ([a-z]+)(?![\w-])((?:[^`#|\n]|#(?!\s))*)/g)].map((m) => ({
          line: i + 1,
          command: m[1] as string,
          args: m[2] as string,
        })),
      )
      // Prose ("p1-gateway on another machine", "p1-gateway is not installed") is not a command line.
      .filter((c) => c.command in HELP || /^\s*(--|\S+\/|[A-Z]+:)/.test(c.args))
  );
}

/** Keys written in the YAML blocks of a guide (commented-out keys too) and in inline `key: value`. */
function configKeys(file: string): { line: number; key: string }[] {
  const found: { line: number; key: string }[] = [];
  let block: string | null = null;
  let isOurs = false;
  const lines = text(file).split("\n");
  lines.forEach((l, i) => {
    const fence = /^\s*```(\w*)/.exec(l);
    if (fence) {
      if (block === null) {
        block = fence[1] ?? "";
        // A ser2net configuration is not ours.
        const rest = lines.slice(i + 1, lines.indexOf("```", i + 1));
        isOurs = block === "yaml" && !rest.some((r) => /^\s*(connection|connector|accepter):/.test(r));
      } else block = null;
      return;
    }
    if (block !== null) {
      const m = isOurs ? /^\s*(?:#\s*)?(?:-\s+)?([A-Za-z][A-Za-z0-9]*):(\s|$)/.exec(l) : null;
      if (m) found.push({ line: i + 1, key: m[1] as string });
      return;
    }
    for (const m of l.matchAll(/`([A-Za-z][A-Za-z0-9-]*): [^`]+`/g))
      if (!SER2NET_KEYS.has(m[1] as string)) found.push({ line: i + 1, key: m[1] as string });
  });
  return found;
}

describe("hardware guides and README quote only what exists", () => {
  it.each(DOCS)("%s: every p1-gateway command and flag", (file) => {
    for (const { line, command, args } of commandLines(file)) {
      const help = HELP[command];
      expect(help, `${file}:${line}: p1-gateway ${command} is not a command`).toBeDefined();
      for (const flag of args.match(/(?<![\w-])--[a-z][a-z-]*/g) ?? [])
        expect(help, `${file}:${line}: p1-gateway ${command} has no ${flag}`).toMatch(
          new RegExp(`(^|[\\s,])${flag}(?![a-z-])`, "m"),
        );
    }
  });

  it.each(DOCS.filter((f) => f.startsWith("hardware/") && f.endsWith(".md")))(
    "%s: every configuration key",
    (file) => {
      for (const { line, key } of configKeys(file))
        expect(CONFIG_KEYS.has(key), `${file}:${line}: no configuration key ${key}`).toBe(true);
    },
  );

  it.each(DOCS)("%s: every file of the package it names", (file) => {
    for (const m of text(file).matchAll(/node_modules\/p1-gateway\/([\w./-]+)/g))
      expect(existsSync(join(ROOT, m[1] as string)), `${file}: ${m[1]} is not in the package`).toBe(true);
  });

  it("troubleshooting.md quotes the serial errors as the gateway says them", () => {
    const guide = text("hardware/troubleshooting.md");
    const say = (code: string) =>
      describeSerialError(Object.assign(new Error(), { code }), "/dev/p1").message;
    expect(guide).toContain(say("ENOENT"));
    // The advice part of the others: what the user is told to do.
    expect(guide).toContain(/sudo usermod -aG dialout \$USER/.exec(say("EACCES"))?.[0]);
    expect(guide).toContain(/is busy: another program has it open/.exec(say("EBUSY"))?.[0]);
  });

  it("finds the command lines and keys it checks", () => {
    const commands = DOCS.flatMap(commandLines);
    expect(commands.filter((c) => c.command === "serve").length).toBeGreaterThan(5);
    expect(commands.some((c) => c.command === "probe")).toBe(true);
    expect(configKeys("hardware/systemd.md").map((k) => k.key)).toContain("serialPort");
  });
});
