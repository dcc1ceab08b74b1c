export * from "./crc.ts";
export * from "./encode.ts";
export * from "./frame.ts";
export * from "./parse.ts";
export * from "./redact.ts";
export * from "./spec/index.ts";
export * from "./timestamp.ts";
export * from "./values.ts";
