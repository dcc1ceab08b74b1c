import { Metadata, status } from "@grpc/grpc-js";
import { type ErrorCode, isP1Error } from "../../shared/index.ts";

/** A request the API refuses (a malformed filter): INVALID_ARGUMENT, naming the field and values. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    message: string,
    readonly field: string,
    readonly values: readonly string[],
  ) {
    super(message);
  }
}

/** What a handler sends instead of a response: a status code, a client-safe message, trailers. */
export interface GrpcStatus {
  readonly code: status;
  readonly details: string;
  readonly metadata: Metadata;
}

/** Trailer carrying the project's error code, so clients branch on codes, not on message text. */
export const ERROR_CODE_TRAILER = "p1-error-code";

// The gRPC API takes no meter data from clients, so a P1Error reaching it describes the gateway's
// own state: corrupt meter data is DATA_LOSS, a bad configuration a FAILED_PRECONDITION, a lost
// source UNAVAILABLE (clients retry).
const P1_STATUS: Readonly<Record<ErrorCode, status>> = {
  TRUNCATED: status.DATA_LOSS,
  TOO_LARGE: status.DATA_LOSS,
  CRC_MISMATCH: status.DATA_LOSS,
  MALFORMED_LINE: status.DATA_LOSS,
  DECRYPT_FAILED: status.DATA_LOSS,
  FRAME_INVALID: status.DATA_LOSS,
  REPLAYED: status.DATA_LOSS,
  CONFIG_INVALID: status.FAILED_PRECONDITION,
  SOURCE_DISCONNECTED: status.UNAVAILABLE,
};

/** True when an error is a bug (it becomes INTERNAL): the caller reports it, clients never see it. */
export function isInternalError(e: unknown): boolean {
  return !(e instanceof RequestError) && !isP1Error(e);
}

/**
 * Translates an error to a gRPC status, once, at the edge. Request and P1 errors keep their message
 * (written for users, keys never in it); anything else is a bug and becomes a bare INTERNAL: its
 * message and stack stay on the server.
 */
export function toGrpcStatus(e: unknown): GrpcStatus {
  const metadata = new Metadata();
  if (e instanceof RequestError) return { code: status.INVALID_ARGUMENT, details: e.message, metadata };
  if (isP1Error(e)) {
    metadata.set(ERROR_CODE_TRAILER, e.code);
    return { code: P1_STATUS[e.code], details: e.message, metadata };
  }
  return { code: status.INTERNAL, details: "internal error", metadata };
}

/** The status sent to streams still open when the server stops: clients should reconnect. */
export function shutdownStatus(): GrpcStatus {
  return { code: status.UNAVAILABLE, details: "server is shutting down", metadata: new Metadata() };
}
