export * from "./bytes.ts";
export * from "./errors.ts";
