import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encryptFrame } from "../../src/smarty/index.ts";
import { ROOT, runCli } from "../helpers/cli.ts";
import { fixture, fixturePath } from "../helpers/fixtures.ts";

/** Runs the real binary; stdout as text. */
async function run(
  args: string[],
  stdin?: Buffer,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCli(args, stdin);
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
}

function lines(r: { stdout: string }): Record<string, unknown>[] {
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("p1-gateway parse (real binary)", () => {
  it("prints one JSON object per telegram from a file, as DESIGN.md shows", async () => {
    const r = await run(["parse", fixturePath("dsmr50.txt")]);
    expect(r.code).toBe(0);
    const [t] = lines(r);
    expect(t).toMatchObject({
      ok: true,
      version: "5.0",
      crc: "valid",
      header: "ISK5\\2M550T-1012",
      objects: {
        "1-0:1.8.1": { value: 4321.987, unit: "kWh" },
        "0-1:24.2.1": { value: 3456.789, unit: "m3", timestamp: "2023-06-15T14:25:00+02:00" },
        "1-0:99.97.0": {
          value: [
            { timestamp: "2022-01-30T11:12:13+01:00", duration_s: 360 },
            { timestamp: "2023-03-01T08:00:00+01:00", duration_s: 1800 },
          ],
        },
      },
      meters: [
        { type: "electricity", channel: 0 },
        { type: "gas", channel: 1 },
        { type: "water", channel: 2 },
      ],
    });
  });

  it("reads a concatenated stream from stdin, reports bad telegrams and exits 1", async () => {
    const bad = Buffer.from(
      fixture("dsmr40.txt").toString("latin1").replace("000100.001", "000100.002"),
      "latin1",
    );
    const r = await run(
      ["parse", "-"],
      Buffer.concat([fixture("dsmr40.txt"), Buffer.from("\0\0garbage"), bad, fixture("dsmr30.txt")]),
    );
    expect(r.code).toBe(1);
    const out = lines(r);
    expect(out.map((o) => o.ok)).toEqual([true, false, true]);
    expect(out[1]).toMatchObject({ ok: false, error: { code: "CRC_MISMATCH" } });
    expect(out[2]).toMatchObject({ version: "3.0", crc: "absent" });
  });

  it("decrypts with --key and --aad", async () => {
    const key = "0102030405060708090A0B0C0D0E0F10";
    const aad = "AABBCCDDEEFF00112233445566778899";
    const frame = encryptFrame(fixture("smarty.txt"), Buffer.from("4C55580000000001", "hex"), 99, {
      key: Buffer.from(key, "hex"),
      authenticationKey: Buffer.from(aad, "hex"),
    });
    const r = await run(["parse", "--key", key, "--aad", aad], frame);
    expect(r.code).toBe(0);
    expect(lines(r)[0]).toMatchObject({
      ok: true,
      version: "smarty",
      encryption: { frame_counter: 99, counter: "first" },
    });
    const wrong = await run(["parse", "--key", key], frame);
    expect(wrong.code).toBe(1);
    expect(lines(wrong)[0]).toMatchObject({ ok: false, error: { code: "DECRYPT_FAILED" } });
  });

  it("--repeat prints a throughput summary", async () => {
    const r = await run(["parse", fixturePath("dsmr50.txt"), "--repeat", "50"]);
    expect(r.code).toBe(0);
    const [s] = lines(r);
    expect(s).toMatchObject({ telegrams: 50, failed: 0 });
    expect(typeof s?.telegrams_per_s).toBe("number");
  });

  it("exits 2 with a clear message for a missing file, a malformed key or a bad option", async () => {
    const missing = await run(["parse", "/nonexistent/telegram.txt"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*no such file/);
    const badKey = await run(["parse", "--key", "C0FFEE"], fixture("dsmr50.txt"));
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/--key must be 32 hex digits/);
    expect(badKey.stderr).not.toMatch(/C0FFEE/);
    expect((await run(["parse", "--bogus"])).code).toBe(2);
    expect((await run(["frobnicate"])).code).toBe(2);
    expect((await run(["constructor"])).code).toBe(2);
  });

  it("has --help for every command", async () => {
    const top = await run(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Commands:/);
    const parse = await run(["parse", "--help"]);
    expect(parse.stdout).toMatch(/Usage: p1-gateway parse/);
  });

  it("is declared as the package bin", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin["p1-gateway"]).toBe("src/cli/bin.mjs");
  });
});
