// Connects @2colors/esphome-native-api to HOST PORT [KEY_BASE64], waits for device info, the entity list
// and one sensor state, prints them as one JSON line and exits (1 on error or after 20 s).
// Run by test/integration/mdns-netns.test.ts inside a network namespace, at the address mDNS announced.
const { Client } = require("@2colors/esphome-native-api");

const [host, port, key] = process.argv.slice(2);
const client = new Client({
  host,
  port: Number(port),
  reconnect: false,
  ...(key ? { encryptionKey: key } : {}),
});
let deviceInfo = null;
const entities = [];
let state = null;
const timer = setTimeout(() => finish(1, "timed out"), 20_000);

function finish(code, error) {
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify({ ok: code === 0, error, deviceInfo, entities, state })}\n`);
  client.disconnect();
  process.exit(code);
}

client.on("deviceInfo", (info) => {
  deviceInfo = info;
});
client.on("newEntity", (entity) => {
  entities.push({
    objectId: entity.config.objectId,
    type: entity.type,
    unit: entity.config.unitOfMeasurement,
  });
  entity.on("state", (s) => {
    if (state === null && entity.type === "Sensor" && s.missingState === false) {
      state = { objectId: entity.config.objectId, value: s.state };
    }
  });
});
client.on("error", (e) => finish(1, String(e?.message ?? e)));
const check = setInterval(() => {
  if (deviceInfo !== null && entities.length > 0 && state !== null) {
    clearInterval(check);
    finish(0);
  }
}, 20);
client.connect();
