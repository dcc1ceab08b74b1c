export { DIAGNOSTICS_NOTES, type GrpcDiagnostics, type PbDiagnostics } from "./diagnostics.ts";
export {
  DEFAULT_MAX_QUEUE_PER_CLIENT,
  GATEWAY_PROTO_FILE,
  GATEWAY_SERVICE,
  type GrpcServer,
  type GrpcServerOptions,
  type GrpcTlsOptions,
  loadGatewayPackage,
  PROTO_ROOT,
  startGrpcServer,
} from "./server.ts";
export { ERROR_CODE_TRAILER, RequestError, toGrpcStatus } from "./status.ts";
