import { describe, expect, it } from "vitest";
import { runSoak } from "./soak.ts";

// One simulated hour of the soak (`npm run soak` runs 24; see README "Reliability").
describe("soak: one simulated hour at 1 Hz with unplugs and client churn", () => {
  it("accounts for every telegram and ends holding what it held after the first churn", async () => {
    const r = await runSoak(1);
    const dropped = Object.values(r.dropped).reduce((a, b) => a + b, 0);
    expect(r.telegramsOk + dropped).toBe(r.telegramsSent);
    // Only the telegrams the simulator corrupted were dropped: no valid telegram was lost.
    expect(r.dropped).toEqual(r.expectedDrops);
    expect(r.unplugs).toBeGreaterThan(0);
    expect(r.reconnects).toBe(r.unplugs);
    expect(r.churnCycles).toBe(12);
    // Nothing accumulates: sockets, listeners, connections and queues are what they were after the
    // first cycle (the two persistent clients), and the persistent clients kept receiving.
    for (const kind of ["TCPSocketWrap", "TCPServerWrap"])
      expect(r.last.resources[kind] ?? 0, kind).toBeLessThanOrEqual(r.first.resources[kind] ?? 0);
    expect(r.last.resources.Timeout ?? 0).toBeLessThanOrEqual((r.first.resources.Timeout ?? 0) + 2);
    expect(r.last, JSON.stringify(r.last)).toMatchObject({
      listeners: r.first.listeners,
      nativeConnections: 1,
      gatewayClients: 2,
      grpcQueued: 0,
      entities: r.first.entities,
    });
    // gRPC coalesces per entity while a minute of telegrams arrives in one burst; native writes through.
    expect(r.persistentGrpcStates).toBeGreaterThan(60 * r.first.entities);
    expect(r.persistentNativeStates).toBeGreaterThan(3600);
  }, 120_000);
});
