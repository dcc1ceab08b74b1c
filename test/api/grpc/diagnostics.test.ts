import { describe, expect, it } from "vitest";
import { toDiagnostics } from "../../../src/api/grpc/diagnostics.ts";
import type { GatewayInfo, SourceInfo } from "../../../src/gateway/index.ts";
import { zeroCounters } from "../../helpers/view.ts";

function source(id: string, encrypted: boolean): SourceInfo {
  return {
    id,
    description: `tcp:127.0.0.1:${id.length}`,
    link: "ok",
    version: encrypted ? "smarty" : "5.0",
    encrypted,
    meters: [],
    counters: zeroCounters(),
    lastTelegramAtMs: null,
  };
}

function info(...sources: SourceInfo[]): GatewayInfo {
  return { name: "gw", version: "0.1.0", startedAtMs: 0, sources, counters: zeroCounters() };
}

describe("GetDiagnostics bundle: which AES-GCM decrypts", () => {
  it("names it when a source is encrypted, and only then asks for it (the addon loads on first use)", () => {
    let asked = 0;
    const diagnostics = {
      recentTelegrams: () => [],
      aesGcm: () => {
        asked++;
        return "node:crypto, addon disabled by P1_NATIVE_GCM=0";
      },
    };
    expect(toDiagnostics(info(source("home", false)), diagnostics, 0).aes_gcm).toBe("");
    expect(asked).toBe(0);
    const both = toDiagnostics(info(source("home", false), source("lux", true)), diagnostics, 0);
    expect(both.aes_gcm).toBe("node:crypto, addon disabled by P1_NATIVE_GCM=0");
    expect(asked).toBe(1);
    // A server given no way to tell says nothing rather than guessing.
    expect(toDiagnostics(info(source("lux", true)), { recentTelegrams: () => [] }, 0).aes_gcm).toBe("");
  });
});
