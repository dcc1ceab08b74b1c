export * from "./decode.ts";
export * from "./gateway.ts";
export * from "./store.ts";
export * from "./types.ts";
