import { describe, expect, it } from "vitest";
import { SourceView, startNativeApiServer } from "../../../src/api/native/index.ts";
import type { EntityState, SourceInfo } from "../../../src/gateway/index.ts";
import { closeAfterEach } from "../../helpers/closers.ts";
import { MemoryView, makeEntity, makeMeter, numberState, zeroCounters } from "../../helpers/view.ts";
import { eventually, ThirdPartyClient } from "./helpers.ts";

const closers = closeAfterEach();

const homeMeter = makeMeter("home", "electricity", 0, "E1");
const garageMeter = makeMeter("garage", "electricity", 0, "E2");
const homePower = makeEntity(homeMeter, "emeter_current_delivery", { name: "Power delivered" });
const garagePower = makeEntity(garageMeter, "emeter_current_delivery", { name: "Power delivered" });

function source(id: string, meters: SourceInfo["meters"]): SourceInfo {
  return {
    id,
    description: `tcp:${id}`,
    link: "ok",
    version: "5.0",
    encrypted: false,
    meters,
    counters: zeroCounters(),
    lastTelegramAtMs: null,
  };
}

function twoSources(): MemoryView {
  const view = new MemoryView();
  view.sources = [source("home", [homeMeter]), source("garage", [garageMeter])];
  view.addEntities([homePower, garagePower]);
  view.publishState(numberState(homePower.id, 1.5));
  view.publishState(numberState(garagePower.id, 9.5));
  return view;
}

describe("SourceView: one source of a gateway as its own view", () => {
  it("shows only the source's sources, entities, states and events", () => {
    const view = twoSources();
    const home = new SourceView(view, "home");
    expect(home.info().sources.map((s) => s.id)).toEqual(["home"]);
    expect(home.entities().map((e) => e.id)).toEqual([homePower.id]);
    expect(home.states().map((s) => s.entityId)).toEqual([homePower.id]);
    expect(home.entity(garagePower.id)).toBeUndefined();
    expect(home.state(garagePower.id)).toBeUndefined();
    expect(home.state(homePower.id)?.value).toBe(1.5);
    const states: EntityState[] = [];
    const links: string[] = [];
    const lists: number[] = [];
    home.on("state", (s) => states.push(s));
    home.on("link", (id, state) => links.push(`${id} ${state}`));
    home.on("entities", (l) => lists.push(l.length));
    view.publishState(numberState(garagePower.id, 3));
    view.publishState(numberState(homePower.id, 2));
    view.emit("link", "garage", "stale");
    view.emit("link", "home", "disconnected");
    view.addEntities([makeEntity(garageMeter, "emeter_delivery_tariff1")]);
    view.addEntities([makeEntity(homeMeter, "emeter_delivery_tariff1"), garagePower]);
    expect(states.map((s) => s.entityId)).toEqual([homePower.id]);
    expect(links).toEqual(["home disconnected"]);
    expect(lists).toEqual([1]);
    home.clientConnected();
    expect(view.clients).toBe(1);
    home.clientDisconnected();
    home.close();
    home.close();
    expect(view.listenerCount("state")).toBe(0);
    expect(view.listenerCount("link")).toBe(0);
  });

  it("many views of one gateway share one listener per event, each getting only its own source's events", () => {
    const view = twoSources();
    const home = new SourceView(view, "home");
    const garage = new SourceView(view, "garage");
    const others = Array.from({ length: 50 }, (_, i) => new SourceView(view, `meter${i}`));
    // Views nobody listens to (devices without clients) follow nothing.
    for (const ev of ["state", "entities", "telegram", "link"] as const)
      expect(view.listenerCount(ev)).toBe(0);
    for (const o of others) o.on("link", () => {});
    expect(view.listenerCount("link")).toBe(1);
    expect(view.listenerCount("state")).toBe(0);
    const got: string[] = [];
    home.on("state", (s) => got.push(`home ${s.entityId}`));
    garage.on("state", (s) => got.push(`garage ${s.entityId}`));
    home.once("state", (s) => got.push(`home once ${s.entityId}`));
    expect(view.listenerCount("state")).toBe(1);
    view.publishState(numberState(garagePower.id, 3));
    view.publishState(numberState(homePower.id, 2));
    view.publishState(numberState(homePower.id, 2.5));
    expect(got).toEqual([
      `garage ${garagePower.id}`,
      `home ${homePower.id}`,
      `home once ${homePower.id}`,
      `home ${homePower.id}`,
    ]);
    home.close();
    garage.removeAllListeners("state");
    expect(view.listenerCount("state")).toBe(0);
    view.publishState(numberState(garagePower.id, 4));
    expect(got).toHaveLength(4);
    for (const o of others) o.close();
    for (const ev of ["state", "entities", "telegram", "link"] as const)
      expect(view.listenerCount(ev)).toBe(0);
  });

  it("a view listened to again after its listeners left follows its source again", () => {
    const view = twoSources();
    const home = new SourceView(view, "home");
    const got: number[] = [];
    const listener = (s: EntityState) => got.push(s.value as number);
    home.on("state", listener);
    home.off("state", listener);
    expect(view.listenerCount("state")).toBe(0);
    home.on("state", listener);
    view.publishState(numberState(homePower.id, 7));
    expect(got).toEqual([7]);
    home.close();
    home.on("state", listener);
    expect(view.listenerCount("state")).toBe(0);
  });

  it("makes a native-API device of one source: its entities and link only", async () => {
    const view = twoSources();
    const home = new SourceView(view, "home");
    closers.push(() => home.close());
    const server = await startNativeApiServer(home, {
      host: "127.0.0.1",
      port: 0,
      name: "p1-home",
      mac: "020000000001",
      model: "P1",
      projectVersion: "0.1.0",
    });
    closers.push(() => server.stop());
    const c = new ThirdPartyClient(server.port);
    closers.push(() => c.close());
    await eventually(() => c.initialized, "client initialized");
    expect(
      Object.values(c.client.entities)
        .map((e) => e.config.objectId)
        .sort(),
    ).toEqual([homePower.id, "home_link_ok"].sort());
    view.publishState(numberState(garagePower.id, 4));
    view.publishState(numberState(homePower.id, 2.25));
    await eventually(() => c.lastState(homePower.id)?.state === 2.25, "home state");
    expect(c.errors).toEqual([]);
  });
});
