export * from "./discover.ts";
