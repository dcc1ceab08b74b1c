import type * as protoLoader from "@grpc/proto-loader";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoToTimestamp, toEntityState } from "../../../src/api/grpc/mapping.ts";
import { loadGatewayPackage } from "../../../src/api/grpc/server.ts";
import { encodeEntityState } from "../../../src/api/grpc/state-encoding.ts";
import type { EntityState } from "../../../src/gateway/types.ts";

// The reference: the serializer grpc-js would use, proto-loader's fromObject + encode from the .proto.
const service = loadGatewayPackage()["p1gateway.v1.Gateway"] as protoLoader.ServiceDefinition;
const reference = service.StreamStates?.responseSerialize as (m: unknown) => Buffer;

const iso = fc
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true })
  .map((d) => d.toISOString().replace(/\.\d{3}Z$/, "+01:00"));

const state: fc.Arbitrary<EntityState> = fc.record({
  entityId: fc.stringMatching(/^[a-z0-9_]{1,40}$/),
  value: fc.oneof(
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 200, unit: "grapheme" }),
    fc.constant(null),
  ),
  text: fc.oneof(fc.stringMatching(/^[0-9.]{1,12}$/), fc.constant(null)),
  timestamp: fc.oneof(iso, fc.constant(null), fc.constant("not a time")),
  receivedAtMs: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: -1e12, max: 0 })),
  available: fc.boolean(),
});

describe("encodeEntityState", () => {
  it("writes the bytes proto-loader's serializer writes, for every kind of state", () => {
    fc.assert(
      fc.property(state, fc.oneof(fc.constant(null), fc.constantFrom("kWh", "m³", "W")), (s, unit) => {
        expect(encodeEntityState(s, unit).equals(reference(toEntityState(s, unit)))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it("decodes to the state it encoded", () => {
    const s: EntityState = {
      entityId: "energy_delivered_tariff1",
      value: 4321.987,
      text: "004321.987",
      timestamp: "2023-06-15T14:30:05+02:00",
      receivedAtMs: 1_686_832_205_250,
      available: true,
    };
    const back = service.StreamStates?.responseDeserialize(encodeEntityState(s, "kWh"));
    expect(back).toMatchObject({
      entity_id: "energy_delivered_tariff1",
      number: 4321.987,
      value: "number",
      raw: "004321.987",
      meter_time: { seconds: 1_686_832_205, nanos: 0 },
      meter_time_iso: "2023-06-15T14:30:05+02:00",
      received_time: { seconds: 1_686_832_205, nanos: 250_000_000 },
      available: true,
      unit: "kWh",
    });
  });
});

describe("isoToTimestamp's memory of the last text", () => {
  it("answers each text as a fresh parse would, whatever came before", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(iso, fc.constant("garbage"), fc.constant(null)), { maxLength: 30 }),
        (texts) => {
          for (const t of texts) {
            const ms = t === null ? Number.NaN : Date.parse(t);
            const expected = Number.isNaN(ms) ? null : { seconds: Math.floor(ms / 1000), nanos: 0 };
            expect(isoToTimestamp(t)).toEqual(expected);
          }
        },
      ),
    );
  });
});
