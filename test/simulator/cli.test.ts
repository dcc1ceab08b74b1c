import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VERSION_NAMES, VERSIONS } from "../../src/dsmr/index.ts";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { type CliRun, ROOT, runCli } from "../helpers/cli.ts";

const KEY = "000102030405060708090A0B0C0D0E0F";

function simulate(args: string[]): Promise<CliRun> {
  return runCli(["simulate", ...args]);
}

describe("p1-gateway simulate (real binary)", () => {
  it.each(VERSION_NAMES)(
    "--version %s --seed 1 --count 10 --interval 0 --out - prints 10 valid telegrams",
    async (v) => {
      const key = v === "smarty" ? ["--key", KEY] : [];
      const args = ["--version", v, "--seed", "1", "--count", "10", "--interval", "0", ...key];
      const r = await simulate([...args, "--out", "-"]);
      expect(r.code, r.stderr).toBe(0);
      const decoder = new TelegramDecoder(v === "smarty" ? { decryptionKey: Buffer.from(KEY, "hex") } : {});
      const decoded = [...decoder.push(r.stdout), ...decoder.flush()];
      expect(decoded).toHaveLength(10);
      for (const d of decoded) {
        if (!d.ok) throw d.error;
        expect(d.telegram.version).toBe(v);
        expect(d.telegram.crc).toBe(VERSIONS[v].crc ? "valid" : "absent");
        if (v === "smarty") expect(d.encryption).not.toBeNull();
      }
      // Same seed, same bytes.
      const again = await simulate(args); // stdout is also the default output
      expect(again.stdout.equals(r.stdout)).toBe(true);
    },
  );

  it("--list-versions lists every version", async () => {
    const r = await simulate(["--list-versions"]);
    expect(r.code).toBe(0);
    for (const v of VERSION_NAMES) expect(r.stdout.toString()).toContain(`${v} `);
  });

  const dir = mkdtempSync(join(tmpdir(), "p1-sim-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes to --out FILE and reports injected faults on stderr", async () => {
    const file = join(dir, "out.txt");
    const r = await simulate([
      "--version",
      "4.2",
      "--count",
      "20",
      "--interval",
      "0",
      "--out",
      file,
      "--fault",
      "garbage=0.5",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const decoded = new TelegramDecoder().push(readFileSync(file));
    expect(decoded.filter((d) => d.ok)).toHaveLength(20);
    const summary = JSON.parse(r.stderr.trim().split("\n").at(-1) as string) as {
      injected: Record<string, number>;
    };
    expect(summary.injected.garbage).toBeGreaterThan(0);
  });

  it("runs a bundled scenario", async () => {
    const r = await simulate([
      "--scenario",
      join(ROOT, "simulator/scenarios/emucs-capacity.yaml"),
      "--count",
      "3",
      "--interval",
      "0",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const decoded = new TelegramDecoder().push(r.stdout);
    expect(decoded.every((d) => d.ok && d.telegram.version === "emucs")).toBe(true);
  });

  const badScenario = join(dir, "bad.yaml");
  writeFileSync(badScenario, "version: '5.0'\nfaults: { crc: 2 }\nsolar: yes\n");
  const brokenYaml = join(dir, "broken.yaml");
  writeFileSync(brokenYaml, "version: [5.0\n");
  it.each([
    [["--version", "9.9"], /unknown version "9\.9"/],
    [["--count", "3"], /--version is required/],
    [["--version", "smarty", "--key", "abc"], /--key must be 32 hex digits/],
    [["--version", "5.0", "--out", "/nonexistent-dir/x.txt"], /cannot write \/nonexistent-dir\/x\.txt/],
    [["--version", "5.0", "--fault", "lightning=0.1"], /unknown fault/],
    [["--version", "5.0", "--interval", "-1"], /--interval/],
    [["--version", "5.0", "--start", "yesterday"], /--start/],
    [["--scenario", badScenario], /solar: .*faults\.crc: /],
    [["--scenario", brokenYaml], /not valid YAML/],
    [["--scenario", join(dir, "missing.yaml")], /cannot read scenario/],
  ] as const)("%j exits 2 naming the problem", async (args, message) => {
    const r = await simulate([...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
