/** Every way input can be rejected; consumers branch on `code`, never on message text. */
export type ErrorCode =
  | "TRUNCATED"
  | "TOO_LARGE"
  | "CRC_MISMATCH"
  | "MALFORMED_LINE"
  | "DECRYPT_FAILED"
  | "FRAME_INVALID"
  | "REPLAYED" // an encrypted frame whose counter is not newer than the last one seen
  | "CONFIG_INVALID"
  | "SOURCE_DISCONNECTED";

/** The one error type of the project: a code, a human message and structured context. */
export class P1Error extends Error {
  override readonly name = "P1Error";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context?: Readonly<Record<string, unknown>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when `e` is a P1Error, optionally of the given code. */
export function isP1Error(e: unknown, code?: ErrorCode): e is P1Error {
  return e instanceof P1Error && (code === undefined || e.code === code);
}

/** Result of a stream stage: bad data from a meter is expected, so it is returned, not thrown. */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: P1Error };
