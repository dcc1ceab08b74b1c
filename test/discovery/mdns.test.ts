import { describe, expect, it, vi } from "vitest";
import {
  type EsphomeDeviceAnnouncement,
  esphomeService,
  type MdnsAnnouncerOptions,
  type MdnsResponder,
  type MdnsService,
  startMdnsAnnouncer,
  txtMac,
} from "../../src/discovery/index.ts";
import { MemoryView, makeMeter, zeroCounters } from "../helpers/view.ts";

/**
 * TEST DOUBLE: a responder that records what would go on the wire. Real multicast may not run on the
 * host network (the sandbox and CI forbid it); the real responder is exercised in network namespaces
 * by test/integration/mdns-netns.test.ts.
 */
class RecordingResponder implements MdnsResponder {
  readonly events: string[] = [];
  readonly live = new Map<string, MdnsService>();
  destroyed = false;
  /** Goodbyes complete only when the test says so, to check that stop() waits for them. */
  readonly pendingGoodbyes: (() => void)[] = [];
  holdGoodbyes = false;

  publish(service: MdnsService) {
    const id = `${service.name}._${service.type}`;
    if (this.destroyed) throw new Error("publish after destroy");
    this.events.push(`publish ${id}`);
    this.live.set(id, service);
    return {
      unpublish: () =>
        new Promise<void>((resolve) => {
          const done = () => {
            this.events.push(`goodbye ${id}`);
            this.live.delete(id);
            resolve();
          };
          if (this.holdGoodbyes) this.pendingGoodbyes.push(done);
          else done();
        }),
    };
  }

  async destroy(): Promise<void> {
    this.events.push("destroy");
    this.destroyed = true;
  }
}

const device: EsphomeDeviceAnnouncement = {
  name: "p1-meter",
  friendlyName: "P1 meter",
  mac: "02:4C:93:27:D3:59",
  port: 6053,
  apiEncryption: null,
};

function options(responder: MdnsResponder, over: Partial<MdnsAnnouncerOptions> = {}): MdnsAnnouncerOptions {
  return {
    responder,
    devices: [device],
    gatewayName: "p1-meter",
    grpcPort: 50051,
    esphomeVersion: "2025.11.0",
    projectName: "p1-gateway.gateway",
    projectVersion: "0.1.0",
    ...over,
  };
}

function viewWithMeters(ids: readonly string[]): MemoryView {
  const view = new MemoryView();
  view.sources = [
    {
      id: "home",
      description: "serial:/dev/p1",
      link: "ok",
      version: "5.0",
      encrypted: false,
      meters: ids.map((id, i) => ({ ...makeMeter("home", i === 0 ? "electricity" : "gas", i, "X"), id })),
      counters: zeroCounters(),
      lastTelegramAtMs: null,
    },
  ];
  return view;
}

describe("TXT records", () => {
  it("has everything Home Assistant's ESPHome discovery reads (docs §6), mac as 12 lowercase hex", () => {
    const s = esphomeService(device, {
      esphomeVersion: "2025.11.0",
      projectName: "p1-gateway.gateway",
      projectVersion: "0.1.0",
    });
    expect(s).toMatchObject({ name: "p1-meter", type: "esphomelib", host: "p1-meter.local", port: 6053 });
    expect(s.txt).toEqual({
      friendly_name: "P1 meter",
      version: "2025.11.0",
      mac: "024c9327d359",
      platform: "host",
      board: "p1-gateway",
      network: "ethernet",
      project_name: "p1-gateway.gateway",
      project_version: "0.1.0",
    });
  });

  it("adds api_encryption only when the API has a key", () => {
    const s = esphomeService(
      { ...device, apiEncryption: "Noise_NNpsk0_25519_ChaChaPoly_SHA256" },
      { esphomeVersion: "x", projectName: "y", projectVersion: "z" },
    );
    expect(s.txt.api_encryption).toBe("Noise_NNpsk0_25519_ChaChaPoly_SHA256");
  });

  it("refuses a MAC that is not 12 hex digits", () => {
    expect(txtMac("02-4c-93-27-d3-59")).toBe("024c9327d359");
    expect(() => txtMac("02:4c:93")).toThrow(/12 hex digits/);
  });
});

describe("announcer", () => {
  it("publishes one ESPHome service per device and the gRPC service with its TXT", () => {
    const r = new RecordingResponder();
    const second = { ...device, name: "p1-meter-garage", mac: "020000000002", port: 6054 };
    const a = startMdnsAnnouncer(
      viewWithMeters(["electricity_0_e1"]),
      options(r, { devices: [device, second] }),
    );
    expect(r.events).toEqual([
      "publish p1-meter._esphomelib",
      "publish p1-meter-garage._esphomelib",
      "publish p1-meter._p1-gateway",
    ]);
    expect(r.live.get("p1-meter-garage._esphomelib")?.port).toBe(6054);
    expect(r.live.get("p1-meter._p1-gateway")).toMatchObject({
      host: "p1-meter.local",
      port: 50051,
      txt: {
        grpc_port: "50051",
        version: "0.1.0",
        meters: "electricity_0_e1",
        api_port: "6053",
        mac: "024c9327d359",
      },
    });
    expect(a.services()).toHaveLength(3);
  });

  it("announces no gRPC service without a gRPC port", () => {
    const r = new RecordingResponder();
    startMdnsAnnouncer(viewWithMeters([]), options(r, { grpcPort: null }));
    expect(r.events).toEqual(["publish p1-meter._esphomelib"]);
  });

  it("re-announces the gRPC service when meters are found, leaving the ESPHome service alone", async () => {
    const r = new RecordingResponder();
    const view = viewWithMeters([]);
    const a = startMdnsAnnouncer(view, options(r));
    expect(r.live.get("p1-meter._p1-gateway")?.txt.meters).toBe("");
    view.sources = viewWithMeters(["electricity_0_e1", "gas_1_g2"]).sources;
    view.emit("entities", []);
    await vi.waitFor(() =>
      expect(r.live.get("p1-meter._p1-gateway")?.txt.meters).toBe("electricity_0_e1,gas_1_g2"),
    );
    view.emit("entities", []); // the same meters again: nothing to re-announce
    await a.stop();
    expect(r.events).toEqual([
      "publish p1-meter._esphomelib",
      "publish p1-meter._p1-gateway",
      "goodbye p1-meter._p1-gateway",
      "publish p1-meter._p1-gateway",
      "goodbye p1-meter._esphomelib",
      "goodbye p1-meter._p1-gateway",
      "destroy",
    ]);
  });

  it("publishes nothing after stop() when a re-announcement is in flight", async () => {
    const r = new RecordingResponder();
    const view = viewWithMeters([]);
    const a = startMdnsAnnouncer(view, options(r));
    view.sources = viewWithMeters(["electricity_0_e1"]).sources;
    view.emit("entities", []);
    await a.stop();
    expect(r.events.at(-1)).toBe("destroy");
    expect(r.events.filter((e) => e.startsWith("publish"))).toHaveLength(2);
    expect(r.live.size).toBe(0);
  });

  it("keeps a long meter list within one 255-byte TXT string, cut between meters", () => {
    const r = new RecordingResponder();
    const ids = Array.from({ length: 20 }, (_, i) => `gas_${i}_g00412441251368${String(i).padStart(2, "0")}`);
    startMdnsAnnouncer(viewWithMeters(ids), options(r));
    const meters = r.live.get("p1-meter._p1-gateway")?.txt.meters ?? "";
    expect(Buffer.byteLength(`meters=${meters}`)).toBeLessThanOrEqual(255);
    expect(meters.split(",").every((m) => ids.includes(m))).toBe(true);
  });

  it("stop() waits for every goodbye before closing the responder, and is idempotent", async () => {
    const r = new RecordingResponder();
    r.holdGoodbyes = true;
    const view = viewWithMeters(["electricity_0_e1"]);
    const a = startMdnsAnnouncer(view, options(r));
    const first = a.stop();
    const second = a.stop();
    expect(second).toBe(first);
    await Promise.resolve();
    await Promise.resolve();
    expect(r.destroyed).toBe(false);
    expect(r.pendingGoodbyes).toHaveLength(2);
    for (const done of r.pendingGoodbyes.splice(0)) done();
    await first;
    expect(r.destroyed).toBe(true);
    expect(r.live.size).toBe(0);
    expect(a.services()).toEqual([]);
    expect(view.listenerCount("entities")).toBe(0);
    // A late event after stop publishes nothing.
    view.emit("entities", []);
    expect(r.events.filter((e) => e === "destroy")).toHaveLength(1);
  });
});
