export * from "./cipher.ts";
export * from "./frame.ts";
export * from "./native-gcm.ts";
