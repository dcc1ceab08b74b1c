export * from "./bytes.ts";
export * from "./clock.ts";
export * from "./errors.ts";
export * from "./files.ts";
export * from "./log.ts";
export * from "./strings.ts";
