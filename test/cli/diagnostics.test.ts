import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

describe("p1-gateway diagnostics", () => {
  it("is listed in the help and has its own --help", async () => {
    const top = await runCli(["--help"]);
    expect(top.stdout.toString()).toMatch(
      /^\s+diagnostics\s+print a running gateway's redacted diagnostics bundle/m,
    );
    const own = await runCli(["diagnostics", "--help"]);
    expect(own.code).toBe(0);
    expect(own.stdout.toString()).toContain("Usage: p1-gateway diagnostics [options]");
  });

  it("usage errors exit 2 without echoing a token", async () => {
    const bad = await runCli(["diagnostics", "--grpc", "nohostport"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--grpc must be HOST:PORT");
    const token = await runCli(["diagnostics", "--token", "secret with spaces-0123"]);
    expect(token.code).toBe(2);
    expect(token.stderr).not.toContain("secret");
    const both = await runCli(["diagnostics", "--token", "x".repeat(20), "--token-file", "/nonexistent"]);
    expect(both.code).toBe(2);
  });

  it("a gateway that is not there: exit 1 with the address", async () => {
    // A port just freed on loopback: nothing listens there.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    await new Promise<void>((r) => server.close(() => r()));
    const r = await runCli(["diagnostics", "--grpc", `127.0.0.1:${port}`, "--timeout", "5"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
  });
});
