import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

// Browsing itself sends multicast, so it runs only inside network namespaces
// (test/integration/mdns-netns.test.ts); here only what returns before any packet is sent.
describe("p1-gateway discover", () => {
  it("is listed in the main help and documents its options", async () => {
    const main = await runCli(["--help"]);
    expect(main.stdout.toString()).toMatch(/^\s+discover\s/m);
    const r = await runCli(["discover", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--seconds", "--mdns-interface", "_esphomelib._tcp", "_p1-gateway._tcp"])
      expect(r.stdout.toString()).toContain(flag);
  });

  it.each([["0"], ["-1"], ["soon"]])("refuses --seconds %s with exit 2", async (value) => {
    const r = await runCli(["discover", "--seconds", value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--seconds");
  });

  it("refuses an interface that does not exist with exit 2, naming the key", async () => {
    const r = await runCli(["discover", "--mdns-interface", "nosuchif0", "--seconds", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mdnsInterface");
  });
});
