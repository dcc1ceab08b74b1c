import {
  type CosemObject,
  type EncodeObject,
  formatTimestamp,
  OBJECTS,
  obisFor,
  type P1Time,
  PLACEHOLDER_TIMESTAMPS,
  parseTimestamp,
} from "../../src/dsmr/index.ts";

/** A value in a form both the encoder's input and the parser's output map to. */
export type Comparable = Record<string, unknown>;

function iso(at: P1Time): string | null {
  const text = typeof at === "number" ? formatTimestamp(at) : at;
  return PLACEHOLDER_TIMESTAMPS.has(text) ? null : (parseTimestamp(text) ?? null);
}

/** What the parser should give back for an object the simulator wrote. */
export function expected(o: EncodeObject): Comparable {
  const def = OBJECTS[o.name];
  const obis = obisFor(def, o.channel);
  const v = o.value;
  switch (v.kind) {
    case "decimal":
      return { obis, value: v.value };
    case "text":
      return { obis, text: v.value };
    case "timestamp":
      return { obis, ts: iso(v.at) };
    case "reading":
      return { obis, value: v.value, ts: iso(v.at) };
    case "failureLog":
      return { obis, log: v.entries.map((e) => [iso(e.at), e.durationS]) };
    case "peakHistory":
      return { obis, peaks: v.entries.map((e) => [iso(e.month), iso(e.at), e.value]) };
  }
}

/** The same form from a parsed object. */
export function actual(o: CosemObject): Comparable {
  const v = o.value;
  switch (v.kind) {
    case "decimal":
      return { obis: o.obis, value: v.value };
    case "text":
      return { obis: o.obis, text: v.value };
    case "timestamp":
      return { obis: o.obis, ts: v.value };
    case "reading":
      return { obis: o.obis, value: v.value, ts: v.timestamp };
    case "failureLog":
      return { obis: o.obis, log: v.entries.map((e) => [e.timestamp, e.durationS]) };
    case "peakHistory":
      return { obis: o.obis, peaks: v.entries.map((e) => [e.month, e.timestamp, e.value]) };
    case "raw":
      return { obis: o.obis, raw: v.values };
  }
}
