import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMessage,
  encodeMessage,
  encodeStateMessage,
  MESSAGE_IDS,
} from "../../../src/api/native/messages.ts";

const key = fc.integer({ min: 0, max: 0xffff_ffff });
// The three state messages as the device builds them (entities.ts): a value or missing_state.
const stateMessage = fc.oneof(
  fc.record({
    type: fc.constant(MESSAGE_IDS.SensorStateResponse),
    fields: fc.oneof(
      fc.record({ key, state: fc.double({ noNaN: true }) }),
      fc.record({ key, missing_state: fc.constant(true) }),
    ),
  }),
  fc.record({
    type: fc.constant(MESSAGE_IDS.TextSensorStateResponse),
    fields: fc.oneof(
      fc.record({ key, state: fc.string() }),
      fc.record({ key, missing_state: fc.constant(true) }),
    ),
  }),
  fc.record({
    type: fc.constant(MESSAGE_IDS.BinarySensorStateResponse),
    fields: fc.oneof(
      fc.record({ key, state: fc.boolean() }),
      fc.record({ key, missing_state: fc.constant(true) }),
    ),
  }),
);

const NAMES = {
  [MESSAGE_IDS.SensorStateResponse]: "SensorStateResponse",
  [MESSAGE_IDS.TextSensorStateResponse]: "TextSensorStateResponse",
  [MESSAGE_IDS.BinarySensorStateResponse]: "BinarySensorStateResponse",
} as const;

describe("encodeStateMessage", () => {
  it("writes the bytes encodeMessage writes for every state message", () => {
    fc.assert(
      fc.property(stateMessage, (m) => {
        const name = NAMES[m.type as keyof typeof NAMES];
        expect(Buffer.from(encodeStateMessage(m)).equals(Buffer.from(encodeMessage(name, m.fields)))).toBe(
          true,
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it("encodes a message once for all the connections that send it", () => {
    const m = { type: MESSAGE_IDS.SensorStateResponse, fields: { key: 7, state: 1.5 } };
    const first = encodeStateMessage(m);
    expect(encodeStateMessage(m)).toBe(first);
    expect(decodeMessage("SensorStateResponse", first)).toMatchObject({
      key: 7,
      state: 1.5,
      missing_state: false,
    });
  });
});
