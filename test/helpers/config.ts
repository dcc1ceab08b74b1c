import { isP1Error, type P1Error } from "../../src/shared/index.ts";

/** Runs `fn`, asserts a CONFIG_INVALID error and returns it. */
export function configError(fn: () => unknown): P1Error {
  try {
    fn();
  } catch (e) {
    if (isP1Error(e, "CONFIG_INVALID")) return e;
    throw e;
  }
  throw new Error("expected CONFIG_INVALID, but the configuration was accepted");
}
