export * from "./lookup.ts";
export * from "./meters.ts";
export * from "./objects.ts";
export * from "./serial.ts";
export * from "./types.ts";
export * from "./versions.ts";
