import { describe, expect, it } from "vitest";
import { Outbox, type Outgoing } from "../../../src/api/native/connection.ts";
import {
  buildNativeEntities,
  entityStateMessage,
  fnv1Hash,
  linkStateMessage,
  toObjectId,
} from "../../../src/api/native/entities.ts";
import { MESSAGE_IDS } from "../../../src/api/native/messages.ts";
import { makeEntity, makeMeter, numberState } from "../../helpers/view.ts";

describe("object_id and key", () => {
  it("derives object_id like ESPHome", () => {
    expect(toObjectId("Power Delivered L1")).toBe("power_delivered_l1");
    expect(toObjectId("Gas (m³)")).toBe("gas__m__");
  });

  it("hashes with 32-bit FNV-1 (doc §5 known answers)", () => {
    expect(fnv1Hash("power_delivered")).toBe(1_831_807_213);
    expect(fnv1Hash("meter_serial")).toBe(4_028_606_687);
  });
});

describe("entity mapping", () => {
  const a = makeMeter("home", "electricity", 0, "E1");
  const b = makeMeter("garage", "electricity", 0, "E2");
  const ea = makeEntity(a, "emeter_delivery_tariff1", { name: "Delivered tariff 1" });
  const eb = makeEntity(b, "emeter_delivery_tariff1", { name: "Delivered tariff 1" });
  const list = buildNativeEntities([eb, ea], [{ id: "home" }, { id: "garage" }]);

  it("gives unique keys and names, in a stable order, plus one link sensor per source", () => {
    expect(list.map((e) => e.objectId)).toEqual([ea.id, eb.id, "garage_link_ok", "home_link_ok"]);
    expect(new Set(list.map((e) => e.key)).size).toBe(list.length);
    expect(list[0]?.listFields.name).toBe(`Delivered tariff 1 (${a.id})`);
    expect(buildNativeEntities([ea, eb], [{ id: "garage" }, { id: "home" }])).toEqual(list);
  });

  it("maps states, unavailable ones as missing", () => {
    const e = list[0];
    if (e === undefined) throw new Error("no entity");
    expect(entityStateMessage(e, numberState(ea.id, 1.5)).fields).toEqual({ key: e.key, state: 1.5 });
    expect(entityStateMessage(e, undefined).fields).toEqual({ key: e.key, missing_state: true });
    expect(entityStateMessage(e, { ...numberState(ea.id, 1), available: false }).fields).toMatchObject({
      missing_state: true,
    });
    expect(linkStateMessage(7, "ok")).toEqual({
      key: 7,
      type: MESSAGE_IDS.BinarySensorStateResponse,
      fields: { key: 7, state: true },
    });
    expect(linkStateMessage(7, "disconnected").fields).toEqual({ key: 7, state: false });
  });
});

describe("send queue", () => {
  const msg = (type: number): Outgoing => ({ type, payload: new Uint8Array() });

  it("writes through, then holds back, coalescing states per key and keeping other messages in order", () => {
    const written: number[] = [];
    let accept = false;
    let coalesced = 0;
    const q = new Outbox(
      (m) => {
        written.push(m.type);
        return accept;
      },
      2,
      (n) => {
        coalesced += n;
      },
    );
    q.push(msg(1), null); // written; the socket pushes back
    q.push(msg(25), 100);
    q.push(msg(26), 100); // replaces the held state of key 100
    q.push(msg(8), null);
    expect(coalesced).toBe(1);
    expect(q.size).toBe(2);
    accept = true;
    q.drain();
    expect(written).toEqual([1, 8, 26]);
    expect(q.size).toBe(0);
  });

  it("reports an overflow of ordered messages", () => {
    const q = new Outbox(
      () => false,
      1,
      () => {},
    );
    expect(q.push(msg(1), null)).toBe(true);
    expect(q.push(msg(2), null)).toBe(true);
    expect(q.push(msg(3), null)).toBe(false);
  });
});
