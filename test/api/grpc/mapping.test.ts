import * as protoLoader from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import {
  ERROR_CODE_TRAILER,
  GATEWAY_PROTO_FILE,
  PROTO_ROOT,
  RequestError,
  toGrpcStatus,
} from "../../../src/api/grpc/index.ts";
import {
  isoToTimestamp,
  toCosemObject,
  toEntity,
  toEntityState,
  toGatewayInfo,
  toTelegram,
  toTimestamp,
} from "../../../src/api/grpc/mapping.ts";
import { P1Error } from "../../../src/shared/index.ts";
import { fixture, parseOk } from "../../helpers/fixtures.ts";
import { makeEntity, makeMeter, numberState, zeroCounters } from "../../helpers/view.ts";

const pkg = protoLoader.loadSync(GATEWAY_PROTO_FILE, {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** Serializes `message` as the response of `method` and decodes it back, as the wire would. */
function roundTrip(method: string, message: object): Record<string, unknown> {
  const service = pkg["p1gateway.v1.Gateway"] as protoLoader.ServiceDefinition;
  const def = service[method];
  if (!def) throw new Error(method);
  return def.responseDeserialize(def.responseSerialize(message)) as Record<string, unknown>;
}

const meter = makeMeter("home", "gas", 1, "G0034");

describe("gRPC mapping", () => {
  it("converts times to Timestamps, keeping milliseconds and rejecting nonsense", () => {
    expect(toTimestamp(1_700_000_000_123)).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
    expect(isoToTimestamp("2023-06-15T14:30:05+02:00")).toEqual({ seconds: 1_686_832_205, nanos: 0 });
    expect(isoToTimestamp("not a time")).toBeNull();
    expect(isoToTimestamp(null)).toBeNull();
  });

  it("maps entities, with empty strings and UNSPECIFIED for absent metadata", () => {
    const text = makeEntity(meter, "equipment_id", {
      kind: "text",
      unit: null,
      deviceClass: null,
      stateClass: null,
      decimals: null,
      diagnostic: true,
    });
    expect(toEntity(text)).toMatchObject({
      id: "gas_1_g0034_equipment_id",
      unit: "",
      device_class: "",
      state_class: "STATE_CLASS_UNSPECIFIED",
      kind: "ENTITY_KIND_TEXT",
      decimals: 0,
      diagnostic: true,
      meter: { id: "gas_1_g0034", type: "METER_TYPE_GAS", channel: 1, equipment_id: "G0034" },
    });
  });

  it("maps states: number with its digits, text, and unknown values leaving the oneof unset", () => {
    const n = toEntityState(numberState("x", 4321.987), "kWh");
    expect(n).toMatchObject({
      number: 4321.987,
      raw: "004321.987",
      unit: "kWh",
      meter_time_iso: "2023-06-15T14:30:05+02:00",
    });
    expect(n).not.toHaveProperty("text");
    const t = toEntityState({ ...numberState("x", 0), value: "hello", text: null, timestamp: null }, null);
    expect(t).toMatchObject({ text: "hello", raw: "", meter_time: null, meter_time_iso: "", unit: "" });
    const u = toEntityState({ ...numberState("x", 0), value: null, text: null, available: false }, "kWh");
    expect(u).not.toHaveProperty("number");
    expect(u).not.toHaveProperty("text");
    expect(roundTrip("StreamStates", u)).not.toHaveProperty("value");
  });

  it("maps every value kind of a DSMR 5.0 telegram", () => {
    const telegram = parseOk(fixture("dsmr50.txt"));
    const byObis = (obis: string) => {
      const o = telegram.objects.find((x) => x.obis === obis);
      if (!o) throw new Error(obis);
      return toCosemObject(o);
    };
    expect(byObis("1-0:1.8.1")).toMatchObject({
      number: 4321.987,
      raw: "004321.987",
      unit: "kWh",
      channel_name: "emeter_delivery_tariff1",
      reading_time: null,
    });
    expect(byObis("0-0:96.1.1")).toMatchObject({
      text: "E0044007382246019",
      raw: "4530303434303037333832323436303139",
    });
    expect(byObis("0-0:1.0.0")).toMatchObject({
      timestamp: { iso: "2023-06-15T14:30:05+02:00", raw: "230615143005S" },
    });
    expect(byObis("0-1:24.2.1")).toMatchObject({
      number: 3456.789,
      unit: "m3",
      channel: 1,
      reading_time: { iso: "2023-06-15T14:25:00+02:00", raw: "230615142500S" },
    });
    expect(byObis("1-0:99.97.0")).toMatchObject({
      power_failure_log: {
        entries: [
          { end_time: { iso: "2022-01-30T11:12:13+01:00" }, duration_s: 360 },
          { end_time: { iso: "2023-03-01T08:00:00+01:00" }, duration_s: 1800 },
        ],
      },
    });
  });

  it("maps the e-MUCS peak-demand history", () => {
    const telegram = parseOk(fixture("emucs.txt"));
    const o = telegram.objects.find((x) => x.obis === "0-0:98.1.0");
    if (!o) throw new Error("no 0-0:98.1.0");
    expect(toCosemObject(o)).toMatchObject({
      unit: "kW",
      peak_demand_history: {
        entries: [
          { month: { iso: "2024-01-01T00:00:00+01:00" }, value: 5.678, raw: "05.678", unit: "kW" },
          { month: { iso: "2023-12-01T00:00:00+01:00" }, value: 3.21, raw: "03.210", unit: "kW" },
        ],
      },
    });
  });

  // protobufjs silently ignores fields a message does not have: a misspelt field in mapping.ts would
  // vanish on the wire. Round trips through the real .proto catch it.
  it("builds messages whose every field survives the wire", () => {
    const telegram = parseOk(fixture("dsmr50.txt"));
    const raw = fixture("dsmr50.txt");
    const message = toTelegram({
      sourceId: "home",
      receivedAtMs: 1_700_000_000_500,
      raw,
      telegram,
      encrypted: false,
    });
    expect(roundTrip("StreamTelegrams", message)).toMatchObject(
      JSON.parse(JSON.stringify(message, bufferAsIs)),
    );
    const decoded = roundTrip("StreamTelegrams", message);
    expect(Buffer.compare(decoded.raw as Buffer, raw)).toBe(0);

    const entity = makeEntity(makeMeter("home", "electricity", 0, "E0012345"), "emeter_delivery_tariff1");
    expect(roundTrip("ListEntities", { entities: [toEntity(entity)] })).toEqual({
      entities: [toEntity(entity)],
    });
    const state = toEntityState(numberState(entity.id, 12.5), "kWh");
    expect(roundTrip("StreamStates", state)).toEqual({ ...state, value: "number" });

    const info = toGatewayInfo({
      name: "gw",
      version: "1.2.3",
      startedAtMs: 1_000,
      sources: [
        {
          id: "home",
          description: "serial:/dev/ttyUSB0",
          link: "stale",
          version: "5.0",
          encrypted: true,
          meters: [entity.meter],
          counters: { ...zeroCounters(), telegramsOk: 7, telegramsDropped: { CRC_MISMATCH: 2 } },
          lastTelegramAtMs: 2_000,
        },
      ],
      counters: { ...zeroCounters(), telegramsOk: 7, telegramsDropped: { CRC_MISMATCH: 2 }, clients: 3 },
    });
    expect(roundTrip("GetInfo", info)).toEqual(info);
  });
});

describe("gRPC status", () => {
  it("keeps request and P1 messages, hides bugs behind INTERNAL", () => {
    expect(toGrpcStatus(new RequestError("entity_ids: malformed ids", "entity_ids", ["X"]))).toMatchObject({
      code: 3,
      details: "entity_ids: malformed ids",
    });
    const p1 = toGrpcStatus(new P1Error("SOURCE_DISCONNECTED", "serial port closed"));
    expect(p1).toMatchObject({ code: 14, details: "serial port closed" });
    expect(p1.metadata.get(ERROR_CODE_TRAILER)).toEqual(["SOURCE_DISCONNECTED"]);
    const bug = toGrpcStatus(
      new TypeError("cannot read properties of undefined (reading 'x') at /src/a.ts:1"),
    );
    expect(bug).toMatchObject({ code: 13, details: "internal error" });
  });
});

/** JSON replacer keeping Buffers out of the comparison (compared byte for byte separately). */
function bufferAsIs(key: string, value: unknown): unknown {
  return key === "raw" && typeof value === "object" ? undefined : value;
}
