export * from "./faults.ts";
export * from "./model.ts";
export * from "./objects.ts";
export * from "./prng.ts";
export * from "./pty.ts";
export * from "./scenario.ts";
export * from "./simulator.ts";
export * from "./sinks.ts";
