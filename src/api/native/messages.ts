import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** The ESPHome API subset's .proto (proto/esphome/api.proto), loaded at run time (no generated code). */
export const NATIVE_PROTO_PATH = fileURLToPath(new URL("../../../proto/esphome/api.proto", import.meta.url));
const PACKAGE = "esphome.api";

/**
 * Message ids of the ESPHome native API (aioesphomeapi api.proto `option (id)`), the same in both
 * framings. Only the messages a read-only sensor device meets (docs/esphome-native-api.md §2.1);
 * every other id a client sends is skipped without a reply.
 */
export const MESSAGE_IDS = {
  HelloRequest: 1,
  HelloResponse: 2,
  AuthenticationRequest: 3,
  AuthenticationResponse: 4,
  DisconnectRequest: 5,
  DisconnectResponse: 6,
  PingRequest: 7,
  PingResponse: 8,
  DeviceInfoRequest: 9,
  DeviceInfoResponse: 10,
  ListEntitiesRequest: 11,
  ListEntitiesBinarySensorResponse: 12,
  ListEntitiesSensorResponse: 16,
  ListEntitiesTextSensorResponse: 18,
  ListEntitiesDoneResponse: 19,
  SubscribeStatesRequest: 20,
  BinarySensorStateResponse: 21,
  SensorStateResponse: 25,
  TextSensorStateResponse: 27,
  SubscribeLogsRequest: 28,
  SubscribeLogsResponse: 29,
  SubscribeHomeassistantServicesRequest: 34,
  GetTimeRequest: 36,
  GetTimeResponse: 37,
  SubscribeHomeAssistantStatesRequest: 38,
} as const satisfies Readonly<Record<string, number>>;

/** Name of a message of the subset. */
export type MessageName = keyof typeof MESSAGE_IDS;

const NAMES_BY_ID: ReadonlyMap<number, MessageName> = new Map(
  (Object.entries(MESSAGE_IDS) as [MessageName, number][]).map(([name, id]) => [id, name]),
);

/** The message name of `id`, or undefined for ids outside the subset (to be skipped). */
export function messageName(id: number): MessageName | undefined {
  return NAMES_BY_ID.get(id);
}

let root: protobuf.Root | undefined;

/** The protobufjs types of the subset, loaded once; field names kept as in the .proto (snake_case). */
export function nativeProtoRoot(): protobuf.Root {
  root ??= new protobuf.Root().loadSync(NATIVE_PROTO_PATH, { keepCase: true });
  return root;
}

const TYPES = new Map<MessageName, protobuf.Type>();

function typeOf(name: MessageName): protobuf.Type {
  let type = TYPES.get(name);
  if (type === undefined) {
    type = nativeProtoRoot().lookupType(`${PACKAGE}.${name}`);
    TYPES.set(name, type);
  }
  return type;
}

/** Encodes one message of the subset (fields by their .proto names) to its protobuf bytes. */
export function encodeMessage(name: MessageName, fields: Readonly<Record<string, unknown>> = {}): Uint8Array {
  const type = typeOf(name);
  return type.encode(type.fromObject(fields)).finish();
}

/** A state message as the device fans it out to its connections. */
export interface StateMessage {
  readonly type: number;
  readonly fields: Readonly<Record<string, unknown>>;
}

const ENCODED_STATES = new WeakMap<StateMessage, Uint8Array>();

/**
 * A state message's bytes, encoded once however many connections send it. State fields are already
 * protobufjs' run-time types (a fixed32 key, a float or string or bool, missing_state), so encode runs
 * without encodeMessage's fromObject pass: this is the hot message, one per changed value (issue 8).
 */
export function encodeStateMessage(m: StateMessage): Uint8Array {
  let payload = ENCODED_STATES.get(m);
  if (payload === undefined) {
    const name = messageName(m.type);
    if (name === undefined) throw new Error(`message id ${m.type} is not in MESSAGE_IDS`);
    payload = typeOf(name).encode(m.fields).finish();
    ENCODED_STATES.set(m, payload);
  }
  return payload;
}

/** Decodes one message; throws protobufjs' error on bytes that do not parse as `name`. */
export function decodeMessage(name: MessageName, payload: Uint8Array): Record<string, unknown> {
  const type = typeOf(name);
  return type.toObject(type.decode(payload), { defaults: true, longs: Number, enums: Number, bytes: Buffer });
}
