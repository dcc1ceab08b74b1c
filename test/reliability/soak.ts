import { Simulator } from "../../simulator/index.ts";
import { type GrpcServer, startGrpcServer } from "../../src/api/grpc/index.ts";
import { type NativeApiServer, startNativeApiServer } from "../../src/api/native/index.ts";
import { Gateway } from "../../src/gateway/index.ts";
import { eventually, RawClient, ThirdPartyClient } from "../api/native/helpers.ts";
import { ManualClock } from "../helpers/clock.ts";
import { Collector, type EntityStateMsg, GatewayTestClient } from "../helpers/grpc-client.ts";
import { DrivenSource } from "./drive.ts";

// The soak behind `npm run soak` (24 simulated hours) and its one-hour version in `npm test`: a DSMR 5.0
// meter at 1 Hz on a manual clock, unplugged now and then, feeding a real Gateway served over gRPC and
// the native API on loopback. Two clients (one of each) stay connected throughout; every five simulated
// minutes a gRPC stream, a third-party ESPHome client and a raw native client that hangs up mid-session
// come and go. Resources are sampled after each churn cycle, once the churned clients are gone.

/** What the process holds at one point of the soak. */
export interface SoakSample {
  readonly hour: number;
  readonly heapMb: number;
  /** Active handles by kind (process.getActiveResourcesInfo()). */
  readonly resources: Readonly<Record<string, number>>;
  readonly listeners: number;
  readonly nativeConnections: number;
  readonly grpcQueued: number;
  readonly gatewayClients: number;
  readonly entities: number;
}

/** The outcome of a soak. */
export interface SoakReport {
  readonly hours: number;
  readonly telegramsSent: number;
  readonly telegramsOk: number;
  readonly dropped: Readonly<Record<string, number>>;
  /** Drops the simulator's injection log predicts (each corrupted telegram, by expected code). */
  readonly expectedDrops: Readonly<Record<string, number>>;
  readonly unplugs: number;
  readonly reconnects: number;
  readonly churnCycles: number;
  readonly persistentGrpcStates: number;
  readonly persistentNativeStates: number;
  readonly first: SoakSample;
  readonly last: SoakSample;
  readonly samples: readonly SoakSample[];
}

const MINUTE = 60;
const CHURN_EVERY_MIN = 5;

const heapMb = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10;
};

function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** Runs a soak of `hours` simulated hours; `onSample` sees each sample (progress of the long run). */
export async function runSoak(hours: number, onSample?: (s: SoakSample) => void): Promise<SoakReport> {
  const clock = new ManualClock(Date.UTC(2024, 0, 15, 0));
  const source = new DrivenSource();
  const gateway = new Gateway({ name: "soak", version: "0.0.0", clock, sources: [{ id: "home", source }] });
  const telegrams = hours * 3600;
  const sim = new Simulator({
    version: "5.0",
    seed: 24,
    count: telegrams,
    startTime: clock.now(),
    // About four unplugs an hour, plus a little line noise.
    faults: { unplug: 1 / 900, garbage: 0.002, crc: 0.001 },
  });
  const cleanups: (() => void | Promise<void>)[] = [];
  try {
    const grpc: GrpcServer = await startGrpcServer(gateway, { host: "127.0.0.1", port: 0 });
    cleanups.push(() => grpc.stop());
    const native: NativeApiServer = await startNativeApiServer(gateway, {
      host: "127.0.0.1",
      port: 0,
      name: "soak",
      mac: "02:00:00:00:00:01",
      model: "simulator",
      projectVersion: "0.0.0",
    });
    cleanups.push(() => native.stop());
    gateway.start();
    cleanups.push(() => gateway.stop());

    const step = (): void => {
      for (const ev of sim.next().events) source.deliver(ev, clock);
    };
    step(); // the meter is discovered before the clients list its entities
    // The telegram's timestamp changes with every telegram, so it is published for every one: a client
    // holding the gateway's latest timestamp has caught up with everything before it.
    const stamp = gateway.entities().find((e) => e.channelName === "p1_timestamp");
    if (!stamp) throw new Error("no timestamp entity after the first telegram");

    const grpcClient = new GatewayTestClient(grpc.address);
    cleanups.push(() => grpcClient.close());
    const persistentCall = grpcClient.streamStates();
    cleanups.push(() => persistentCall.cancel());
    persistentCall.on("error", () => {});
    // The persistent clients count what they receive and keep only the latest timestamp state, so the
    // soak's own bookkeeping does not grow with its length.
    let grpcStates = 0;
    let grpcStamp: EntityStateMsg | undefined;
    persistentCall.on("data", (s: EntityStateMsg) => {
      grpcStates++;
      if (s.entity_id === stamp.id) grpcStamp = s;
    });
    const persistentNative = new ThirdPartyClient(native.port);
    cleanups.push(() => persistentNative.close());
    await eventually(() => persistentNative.initialized, "the persistent native client to be initialized");
    let nativeStates = 0;
    let nativeStamp: unknown;
    const drainNative = (): void => {
      nativeStamp = persistentNative.lastState(stamp.id)?.state ?? nativeStamp;
      for (const list of persistentNative.states.values()) nativeStates += list.length;
      persistentNative.states.clear();
    };

    // Both persistent clients hold the gateway's latest timestamp state.
    const settled = (): boolean => {
      const want = gateway.state(stamp.id);
      if (want === undefined || typeof want.value !== "string") return true;
      drainNative();
      return grpcStamp?.text === want.value && nativeStamp === want.value;
    };

    const churn = async (): Promise<void> => {
      const c = new GatewayTestClient(grpc.address);
      const call = c.streamStates();
      call.on("error", () => {});
      const got = new Collector<EntityStateMsg>(call);
      const esphome = new ThirdPartyClient(native.port);
      const raw = await RawClient.open(native.port);
      raw.send("HelloRequest", { client_info: "soak", api_version_major: 1, api_version_minor: 10 });
      await raw.waitFor("HelloResponse");
      raw.send("ListEntitiesRequest");
      raw.close(); // hangs up in the middle of the listing
      await got.count(gateway.states().length);
      await eventually(() => esphome.initialized, "a churned native client to be initialized");
      call.cancel();
      c.close();
      esphome.close();
      await eventually(
        () => native.connections() === 1 && gateway.info().counters.clients === 2,
        "churned clients to be released",
      );
    };

    const sample = (hour: number): SoakSample => ({
      hour,
      heapMb: heapMb(),
      resources: resources(),
      listeners:
        gateway.listenerCount("state") +
        gateway.listenerCount("telegram") +
        gateway.listenerCount("entities"),
      nativeConnections: native.connections(),
      grpcQueued: grpc.queuedMessages(),
      gatewayClients: gateway.info().counters.clients,
      entities: gateway.entities().length,
    });

    const samples: SoakSample[] = [];
    let cycles = 0;
    for (let minute = 0; !sim.done; minute++) {
      for (let s = 0; s < MINUTE && !sim.done; s++) step();
      await eventually(settled, "the persistent clients to catch up", 30_000);
      if (minute % CHURN_EVERY_MIN === 0) {
        await churn();
        cycles++;
        const s = sample(Math.round(((minute + 1) / 60) * 100) / 100);
        samples.push(s);
        onSample?.(s);
      }
    }
    source.finish(clock, 10_000);
    await eventually(settled, "the persistent clients to catch up", 30_000);
    // States held back for the (momentarily) slower persistent stream drain once it has read them.
    await eventually(() => grpc.queuedMessages() === 0, "the gRPC queues to drain", 30_000);
    const last = sample(hours);
    samples.push(last);
    const { counters } = gateway.info();
    const first = samples[0] as SoakSample;
    return {
      hours,
      telegramsSent: telegrams,
      telegramsOk: counters.telegramsOk,
      dropped: { ...counters.telegramsDropped },
      expectedDrops: { ...sim.log.expected() },
      unplugs: sim.log.counts.unplug,
      reconnects: counters.reconnects,
      churnCycles: cycles,
      persistentGrpcStates: grpcStates,
      persistentNativeStates: nativeStates,
      first,
      last,
      samples,
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}
