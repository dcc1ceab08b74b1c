export * from "./cipher.ts";
export * from "./frame.ts";
