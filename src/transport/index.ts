export * from "./fanout.ts";
export * from "./file.ts";
export * from "./reconnect.ts";
export * from "./serial.ts";
export * from "./source.ts";
export * from "./stream.ts";
export * from "./tcp.ts";
