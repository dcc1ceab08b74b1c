import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { v8FlagsFor } from "../../src/cli/v8-flags.mjs";

describe("launcher V8 flags", () => {
  it("serve bounds the old generation's growth; other commands run with V8's defaults", () => {
    expect(v8FlagsFor(["serve", "--config", "x.yaml"])).toEqual(["--heap-growing-percent=50"]);
    expect(v8FlagsFor(["parse", "serve"])).toEqual([]);
    expect(v8FlagsFor([])).toEqual([]);
  });

  it("every flag is one this Node's V8 knows (setFlagsFromString would ignore a misspelt one)", () => {
    const flags = v8FlagsFor(["serve"]);
    // On the command line an unknown V8 flag is an error (exit 9, "bad option").
    const run = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});
