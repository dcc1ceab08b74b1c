import { describe, expect, it } from "vitest";
import { FAULT_KINDS, type FaultKind, Simulator, type SimulatorOptions } from "../../simulator/index.ts";
import { Gateway, type LinkState } from "../../src/gateway/index.ts";
import { createLogger, type ErrorCode } from "../../src/shared/index.ts";
import { ManualClock } from "../helpers/clock.ts";
import { DrivenSource, drive } from "./drive.ts";

// Fault injection through the simulator: every fault kind it offers, on a plaintext DSMR 5.0 meter and
// on an encrypted Smarty meter, each run on a manual clock against a real Gateway. Every telegram the
// simulator sent is accounted for: delivered, or dropped with the reason the injection predicts.

const KEY = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
const TELEGRAMS = 240;
const RATE = 0.08;
// Faults that only exist on an encrypted link.
const ENCRYPTED_ONLY: ReadonlySet<FaultKind> = new Set(["wrongKey", "replay"]);

interface Run {
  readonly sim: Simulator;
  readonly gateway: Gateway;
  readonly links: LinkState[];
  readonly logs: string[];
  /** After every stall: whether all of the source's states were unavailable then. */
  readonly staleChecks: boolean[];
  /** After every recovery from stale: whether the main meter's register was available again. */
  readonly recoveries: boolean[];
  readonly newMeters: Set<string>;
}

function run(options: SimulatorOptions): Run {
  const clock = new ManualClock(options.startTime);
  const logs: string[] = [];
  const source = new DrivenSource();
  const gateway = new Gateway({
    name: "faults",
    version: "0.0.0",
    clock,
    sources: [{ id: "home", source, ...(options.key ? { decoder: { decryptionKey: options.key } } : {}) }],
    logger: createLogger("p1", { sink: (l) => logs.push(l), level: "info", now: () => clock.now() }),
  });
  const links: LinkState[] = [];
  const staleChecks: boolean[] = [];
  const recoveries: boolean[] = [];
  const newMeters = new Set<string>();
  gateway.on("link", (_id, l) => links.push(l));
  gateway.on("entities", (list) => {
    for (const e of list) newMeters.add(e.meter.id);
  });
  const sim = new Simulator(options);
  gateway.start();
  let stalled = false;
  drive(sim, source, clock, (ev) => {
    // Right after a stall, before the next telegram: the source has been silent past receivedTimeout.
    if (ev.kind === "pause" && ev.reason === "stall") {
      staleChecks.push(gateway.states().every((s) => !s.available));
      stalled = true;
    }
    // The first telegram after it brings the values back.
    if (ev.kind === "data" && stalled && gateway.info().sources[0]?.link === "ok") {
      // The meter's registers (a telegram with a reset clock has no usable timestamp, so not every value).
      const registers = gateway
        .states()
        .filter((s) => s.entityId.startsWith("electricity_0_"))
        .filter((s) => gateway.entity(s.entityId)?.stateClass === "total_increasing");
      recoveries.push(registers.length > 0 && registers.every((s) => s.available));
      stalled = false;
    }
  });
  source.finish(clock, 10_000);
  return { sim, gateway, links, logs, staleChecks, recoveries, newMeters };
}

/**
 * The drop counters the injection log predicts. REPLAYED is the gateway's code for `replay`. One
 * correction for pacing: an encrypted frame that lost a byte waits for one more; the simulator expects
 * the next frame's first byte to complete it (DECRYPT_FAILED), which is what happens back to back (a
 * replay right behind it). A Smarty meter pauses 10 s, though, and the gateway gives up a partial
 * frame after 5 s of silence: TRUNCATED.
 */
function predictedDrops(sim: Simulator): Partial<Record<ErrorCode, number>> {
  const out: Partial<Record<ErrorCode, number>> = {};
  const replayed = new Set(sim.log.entries.filter((e) => e.kind === "replay").map((e) => e.telegram));
  for (const e of sim.log.entries) {
    if (e.expect === null) continue;
    let code: ErrorCode = e.expect === "replay" ? "REPLAYED" : e.expect;
    if (e.kind === "drop" && sim.encrypting && !replayed.has(e.telegram)) code = "TRUNCATED";
    out[code] = (out[code] ?? 0) + 1;
  }
  return out;
}

const CASES = FAULT_KINDS.flatMap((kind) => [
  ...(ENCRYPTED_ONLY.has(kind) ? [] : [{ kind, meter: "plain" as const }]),
  { kind, meter: "encrypted" as const },
]);

describe("fault injection through the simulator", () => {
  it.each(CASES)(
    "$kind ($meter): every telegram sent is delivered or dropped with its reason",
    ({ kind, meter }) => {
      const options: SimulatorOptions = {
        version: meter === "plain" ? "5.0" : "smarty",
        seed: 11,
        count: TELEGRAMS,
        faults: { [kind]: RATE },
        ...(meter === "encrypted" ? { key: KEY } : {}),
      };
      const r = run(options);
      const injected = r.sim.log.counts[kind];
      expect(injected, "the fault was injected").toBeGreaterThan(0);
      const { counters } = r.gateway.info();
      expect(counters.telegramsDropped).toEqual(predictedDrops(r.sim));
      const dropped = Object.values(counters.telegramsDropped).reduce((a, b) => a + b, 0);
      // A replay is an extra (old) frame on the wire: sent = the meter's telegrams + the replays.
      const sent = TELEGRAMS + r.sim.log.counts.replay;
      expect(counters.telegramsOk + dropped).toBe(sent);

      const timeouts = r.logs.filter((l) => l.includes("no valid telegram for")).length;
      if (kind === "stall") {
        // Each stall (130 s) outlasts receivedTimeout (120 s): all values unavailable, then back.
        expect(r.staleChecks).toEqual(Array(injected).fill(true));
        expect(r.recoveries).toEqual(Array(injected).fill(true));
        expect(timeouts).toBe(injected);
      } else {
        // Nothing else silences the meter for that long: values never went unavailable.
        expect(timeouts).toBe(0);
      }
      if (kind === "unplug") {
        expect(counters.reconnects).toBe(injected);
        expect(r.links.filter((l) => l === "disconnected").length).toBe(injected);
      }
      if (kind === "mbusSwap") {
        // Every swap brings a new gas meter with its entities, and the gateway says which replaced which.
        const swapLines = r.logs.filter((l) => l.includes("replaced by"));
        expect(swapLines.length).toBe(injected);
        expect([...r.newMeters].filter((m) => m.startsWith("gas_")).length).toBe(injected + 1);
      }
      // Logs stay readable: identical lines are not repeated within the logger's window (60 s).
      const warns = r.logs.filter((l) => l.includes(" warn "));
      expect(warns.length).toBeLessThanOrEqual(distinctPerWindow(warns));
    },
  );

  it("all faults at once over a simulated day of a Smarty meter: nothing unaccounted, logs bounded", () => {
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0.01]));
    const count = 8_640; // 24 h at Smarty's 10 s interval
    const r = run({ version: "smarty", seed: 5, count, key: KEY, faults });
    for (const k of FAULT_KINDS) expect(r.sim.log.counts[k], k).toBeGreaterThan(0);
    const { counters } = r.gateway.info();
    expect(counters.telegramsDropped).toEqual(predictedDrops(r.sim));
    const dropped = Object.values(counters.telegramsDropped).reduce((a, b) => a + b, 0);
    expect(counters.telegramsOk + dropped).toBe(count + r.sim.log.counts.replay);
    expect(r.staleChecks.every(Boolean)).toBe(true);
    expect(r.recoveries.every(Boolean)).toBe(true);
    const injected = Object.values(r.sim.log.counts).reduce((a, b) => a + b, 0);
    // Far fewer lines than faults: repeated drop warnings are folded into "(repeated n more times)".
    expect(r.logs.length).toBeLessThan(injected);
    expect(r.logs.some((l) => l.includes("repeated"))).toBe(true);
  });
});

/**
 * The most lines a 60 s repeat limiter lets through: per distinct message, one per started minute
 * of the span it occurs in (lines carry an ISO timestamp first).
 */
function distinctPerWindow(lines: readonly string[]): number {
  const byMessage = new Map<string, number[]>();
  for (const l of lines) {
    const [ts = "", ...rest] = l.split(" ");
    const key = rest.join(" ").replace(/ \(repeated \d+ more times\)$/, "");
    const list = byMessage.get(key) ?? [];
    list.push(Date.parse(ts));
    byMessage.set(key, list);
  }
  let allowed = 0;
  for (const times of byMessage.values()) {
    // Lines of one message must be at least 60 s apart.
    for (let i = 1; i < times.length; i++)
      if ((times[i] as number) - (times[i - 1] as number) < 60_000) return -1;
    allowed += times.length;
  }
  return allowed;
}
