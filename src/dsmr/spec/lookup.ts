import { OBJECTS, type ObjectName } from "./objects.ts";
import type { ObjectDef } from "./types.ts";
import { DETECTION, VERSIONS, type VersionName } from "./versions.ts";

/** Normalised OBIS key of an M-Bus object with its channel replaced by `n`. */
export function mbusKey(a: string, cde: string): string {
  return `${a}-n:${cde}`;
}

function indexByObis(names: readonly ObjectName[]): Map<string, ObjectDef> {
  const map = new Map<string, ObjectDef>();
  for (const name of names) {
    const def: ObjectDef = OBJECTS[name];
    if (!map.has(def.obis)) map.set(def.obis, def);
  }
  return map;
}

const BY_VERSION = new Map<VersionName, Map<string, ObjectDef>>(
  (Object.keys(VERSIONS) as VersionName[]).map((v) => [
    v,
    indexByObis([...VERSIONS[v].objects, ...VERSIONS[v].mbusObjects]),
  ]),
);

// For telegrams of no known version, and objects a meter sends beyond its version's list: newest
// versions first, so an OBIS with per-version variants resolves to today's meaning.
const GENERIC = indexByObis(
  [...(Object.keys(VERSIONS) as VersionName[])]
    .reverse()
    .flatMap((v) => [...VERSIONS[v].objects, ...VERSIONS[v].mbusObjects])
    .concat(Object.keys(OBJECTS) as ObjectName[]),
);

/**
 * The definition of an object: `key` is the normalised OBIS (`A-B:C.D.E`), `wildcard` the same with the
 * M-Bus channel as `n`. The version's own table is consulted first, then every table.
 */
export function lookupObject(
  version: VersionName | null,
  key: string,
  wildcard: string | null,
): ObjectDef | undefined {
  const own = version ? BY_VERSION.get(version) : undefined;
  return (
    own?.get(key) ??
    (wildcard ? own?.get(wildcard) : undefined) ??
    GENERIC.get(key) ??
    (wildcard ? GENERIC.get(wildcard) : undefined)
  );
}

/** What version detection looks at in a telegram. */
export interface DetectionInput {
  /** 1-3:0.2.8 value, if present. */
  readonly p1Version: string | undefined;
  readonly hasCrc: boolean;
  /** Normalised keys present, with M-Bus channels also as `n`. */
  readonly keys: ReadonlySet<string>;
  /** Unit written for an OBIS key. */
  unitOf(key: string): string | null | undefined;
}

/** The version a telegram is written in, by the first matching rule of `DETECTION`; null when none fits. */
export function detectVersion(input: DetectionInput): VersionName | null {
  for (const rule of DETECTION) {
    if (rule.p1Version !== undefined && rule.p1Version !== input.p1Version) continue;
    if (rule.crc !== undefined && rule.crc !== input.hasCrc) continue;
    if (rule.anyOf && !rule.anyOf.some((k) => input.keys.has(k))) continue;
    if (rule.unit && input.unitOf(rule.unit.obis) !== rule.unit.unit) continue;
    return rule.version;
  }
  return null;
}
