export { API_VERSION } from "./connection.ts";
export {
  buildNativeEntities,
  ENTITY_CATEGORY,
  fnv1Hash,
  type NativeEntity,
  SENSOR_STATE_CLASS,
  toObjectId,
  UNIT_MAP,
} from "./entities.ts";
export { encodePlaintextFrame, MAX_PAYLOAD_BYTES, PlaintextCodec } from "./frame.ts";
export { MESSAGE_IDS, type MessageName, NATIVE_PROTO_PATH } from "./messages.ts";
export { NOISE_PROTOCOL, NoiseCodec } from "./noise.ts";
export {
  DEFAULT_NATIVE_API_PORT,
  ESPHOME_VERSION,
  formatMac,
  type NativeApiServer,
  type NativeApiServerOptions,
  PROJECT_NAME,
  startNativeApiServer,
} from "./server.ts";
export { SourceView } from "./source-view.ts";
