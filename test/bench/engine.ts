/**
 * What the throughput benches measure, in one module: throughput.ts bundles it with esbuild as the
 * build bundles the gateway (src/cli/build.mjs) and measures that bundle, the form the deployed
 * gateway runs (run from the sources through tsx, the parser measured 6-8 % slower, interleaved).
 */
export { ParseMemory, parseTelegram } from "../../src/dsmr/index.ts";
export { EntityStore, EVERY_TELEGRAM, TelegramDecoder } from "../../src/gateway/index.ts";
export { gcmImplementation } from "../../src/gateway/native-gcm.ts";
