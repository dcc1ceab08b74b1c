export * from "./discover.ts";
export * from "./entities.ts";
