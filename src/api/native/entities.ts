import type { EntityInfo, EntityState, LinkState, SourceInfo } from "../../gateway/types.ts";
import { MESSAGE_IDS } from "./messages.ts";

// Gateway entities as ESPHome entities (docs/esphome-native-api.md §2.2, §5): pure mapping, no I/O.

/** SensorStateClass values (§5). */
export const SENSOR_STATE_CLASS = {
  none: 0,
  measurement: 1,
  total_increasing: 2,
  total: 3,
} as const satisfies Readonly<Record<string, number>>;

/** EntityCategory values (§5). */
export const ENTITY_CATEGORY = { none: 0, config: 1, diagnostic: 2 } as const;

/**
 * Units as the gateway's tables write them → units Home Assistant expects with the entity's device
 * class (HA's gas/water device classes want "m³"); units not listed pass unchanged.
 */
export const UNIT_MAP: Readonly<Record<string, string>> = { m3: "m³" };

// FNV-1 32-bit (§5): offset basis and prime, multiply then XOR, as ESPHome's fnv1_hash.
const FNV_OFFSET_BASIS = 2_166_136_261;
const FNV_PRIME = 16_777_619;
// object_id is capped at 120 characters by the firmware (§2.2).
const MAX_OBJECT_ID = 120;

/** ESPHome's entity key: 32-bit FNV-1 of the object_id's bytes. */
export function fnv1Hash(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of Buffer.from(text, "utf8")) {
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
    hash = (hash ^ byte) >>> 0;
  }
  return hash;
}

/** ESPHome's object_id rule (§5): lowercase, spaces → '_', anything outside [a-z0-9_-] → '_'. */
export function toObjectId(name: string): string {
  return name
    .toLowerCase()
    .replace(/ /g, "_")
    .replace(/[^a-z0-9_-]/g, "_")
    .slice(0, MAX_OBJECT_ID);
}

/** What a native entity stands for: a gateway entity, or the link of one source. */
export type NativeEntitySource =
  | { readonly kind: "entity"; readonly entity: EntityInfo }
  | { readonly kind: "link"; readonly sourceId: string };

/** One entity as announced to ESPHome clients. */
export interface NativeEntity {
  readonly key: number;
  readonly objectId: string;
  readonly source: NativeEntitySource;
  /** The list message: its id and fields. */
  readonly listType: number;
  readonly listFields: Readonly<Record<string, unknown>>;
}

/** A state message: id, fields, and the key it carries (for coalescing). */
export interface NativeStateMessage {
  readonly key: number;
  readonly type: number;
  readonly fields: Readonly<Record<string, unknown>>;
}

function linkObjectId(sourceId: string): string {
  return toObjectId(`${sourceId}_link_ok`);
}

/**
 * The device's entities: every gateway entity (number → sensor, text → text sensor) and one
 * "link OK" binary sensor per source. Keys are FNV-1 of the object_id; a (rare) collision is moved
 * to the next free key in id order, so keys stay stable as long as the entity set does.
 */
export function buildNativeEntities(
  entities: readonly EntityInfo[],
  sources: readonly Pick<SourceInfo, "id">[],
): NativeEntity[] {
  const used = new Set<number>();
  const keyFor = (objectId: string): number => {
    let key = fnv1Hash(objectId);
    while (used.has(key)) key = (key + 1) >>> 0;
    used.add(key);
    return key;
  };
  // Names must be unique on the device (newer HA schemes key entities by name): repeated names get
  // their meter id appended.
  const nameCount = new Map<string, number>();
  for (const e of entities) nameCount.set(e.name, (nameCount.get(e.name) ?? 0) + 1);
  const sorted = [...entities].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: NativeEntity[] = [];
  for (const e of sorted) {
    const objectId = toObjectId(e.id);
    const key = keyFor(objectId);
    const name = (nameCount.get(e.name) ?? 0) > 1 ? `${e.name} (${e.meter.id})` : e.name;
    const category = e.diagnostic ? ENTITY_CATEGORY.diagnostic : ENTITY_CATEGORY.none;
    const common = { object_id: objectId, key, name, entity_category: category };
    if (e.kind === "number") {
      out.push({
        key,
        objectId,
        source: { kind: "entity", entity: e },
        listType: MESSAGE_IDS.ListEntitiesSensorResponse,
        listFields: {
          ...common,
          unit_of_measurement: e.unit === null ? "" : (UNIT_MAP[e.unit] ?? e.unit),
          accuracy_decimals: e.decimals ?? 0,
          device_class: e.deviceClass ?? "",
          state_class: e.stateClass === null ? SENSOR_STATE_CLASS.none : SENSOR_STATE_CLASS[e.stateClass],
        },
      });
    } else {
      out.push({
        key,
        objectId,
        source: { kind: "entity", entity: e },
        listType: MESSAGE_IDS.ListEntitiesTextSensorResponse,
        listFields: { ...common, device_class: e.deviceClass ?? "" },
      });
    }
  }
  for (const s of [...sources].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const objectId = linkObjectId(s.id);
    const key = keyFor(objectId);
    out.push({
      key,
      objectId,
      source: { kind: "link", sourceId: s.id },
      listType: MESSAGE_IDS.ListEntitiesBinarySensorResponse,
      listFields: {
        object_id: objectId,
        key,
        name: `Link ${s.id}`,
        device_class: "connectivity",
        entity_category: ENTITY_CATEGORY.diagnostic,
      },
    });
  }
  return out;
}

/** The state message of a gateway entity; `state` undefined or unavailable → missing_state. */
export function entityStateMessage(entity: NativeEntity, state: EntityState | undefined): NativeStateMessage {
  const { key } = entity;
  const info = entity.source.kind === "entity" ? entity.source.entity : null;
  const value = state?.available === true ? state.value : null;
  if (info?.kind === "text") {
    return typeof value === "string"
      ? { key, type: MESSAGE_IDS.TextSensorStateResponse, fields: { key, state: value } }
      : { key, type: MESSAGE_IDS.TextSensorStateResponse, fields: { key, missing_state: true } };
  }
  // A float32 carries ~7 significant digits: readings above 10 000 kWh lose the last (Wh) decimal.
  return typeof value === "number" && Number.isFinite(value)
    ? { key, type: MESSAGE_IDS.SensorStateResponse, fields: { key, state: value } }
    : { key, type: MESSAGE_IDS.SensorStateResponse, fields: { key, missing_state: true } };
}

/** The state message of a source's "link OK" binary sensor. */
export function linkStateMessage(key: number, link: LinkState | undefined): NativeStateMessage {
  return link === undefined
    ? { key, type: MESSAGE_IDS.BinarySensorStateResponse, fields: { key, missing_state: true } }
    : { key, type: MESSAGE_IDS.BinarySensorStateResponse, fields: { key, state: link === "ok" } };
}
