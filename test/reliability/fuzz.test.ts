import { describe, expect, it } from "vitest";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { decodeInput, runFuzz, withTextMessage } from "./fuzz.ts";

// The short, seeded version of `npm run fuzz` (which runs 1,000,000 inputs; see README "Reliability").
const SEED = 20_241_201;
const RUNS = 2_000;

describe("fuzz: framer + decrypt + parser (short seeded run)", () => {
  it(`${RUNS} mutated streams: only typed errors, every hidden valid unit recovered, work bounded by size`, () => {
    const report = runFuzz({ seed: SEED, runs: RUNS });
    expect(report.inputs).toBe(RUNS);
    expect(report.validHidden).toBeGreaterThan(RUNS); // about two valid units per input
    expect(report.lost).toBe(0);
    // Every kind of damage shows up: the run really exercised the drop paths.
    for (const code of [
      "CRC_MISMATCH",
      "TRUNCATED",
      "TOO_LARGE",
      "DECRYPT_FAILED",
      "MALFORMED_LINE",
    ] as const)
      expect(report.errors[code], code).toBeGreaterThan(0);
  });

  it("the longest legal text message passes; a huge one is dropped as TOO_LARGE without buffering it", () => {
    const d = new TelegramDecoder({ maxTelegramBytes: 16 * 1024 });
    const out = [...d.push(withTextMessage(2048)), ...d.push(withTextMessage(100_000)), ...d.flush()];
    expect(out.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "TOO_LARGE"]);
  });

  it("a valid telegram after random bytes and a huge telegram is recovered (one input, by hand)", () => {
    const out = decodeInput({
      encrypted: false,
      bursts: [
        { kind: "random", bytes: Uint8Array.from([0x2f, 0x21, 0xdb, 0x08, 0x00, 0x0d]) },
        { kind: "huge" },
        { kind: "valid", unit: 6 },
      ],
      cuts: [3, 500, 17_000],
    });
    expect(out).toMatchObject({ valid: 1, recovered: 1 });
    expect(out.errors.TOO_LARGE).toBe(1);
  });
});
