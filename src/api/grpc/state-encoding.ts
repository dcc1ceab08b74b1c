/**
 * p1gateway.v1.EntityState written straight from a gateway state. States are the API's hot message:
 * every changed value, each encoded once for all streams, on the path from a telegram to its clients.
 * protobufjs would first build the message object (toEntityState), then run a writer that queues an
 * operation per field and forks for each Timestamp; here the size is counted and the bytes written into
 * one buffer. The field numbers mirror proto/p1gateway/v1/gateway.proto (EntityState, Timestamp); a
 * property test holds the bytes equal to proto-loader's serializer of toEntityState's message, so a
 * change in the .proto that is not made here fails it.
 */
import type { EntityState } from "../../gateway/types.ts";
import { isoToTimestamp, type PbTimestamp, stateMeterTimeIso, stateRaw, toTimestamp } from "./mapping.ts";

// Keys (field number << 3 | wire type) of EntityState and Timestamp, in field order as protobufjs writes.
const ENTITY_ID = 0x0a; // 1, length-delimited
const NUMBER = 0x11; // 2, 64-bit (double)
const TEXT = 0x1a; // 3
const RAW = 0x22; // 4
const METER_TIME = 0x2a; // 5, Timestamp
const METER_TIME_ISO = 0x32; // 6
const RECEIVED_TIME = 0x3a; // 7, Timestamp
const AVAILABLE = 0x40; // 8, varint (bool)
const UNIT = 0x4a; // 9
const SECONDS = 0x08; // Timestamp.seconds, varint (int64)
const NANOS = 0x10; // Timestamp.nanos, varint (int32)

/** Bytes of a varint; negative int64/int32 values take ten (two's complement, sign-extended). */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  if (n < 0) {
    let big = BigInt.asUintN(64, BigInt(n));
    for (let i = 0; i < 9; i++) {
      buf[pos++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    buf[pos++] = Number(big);
    return pos;
  }
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

function timestampSize(t: PbTimestamp): number {
  return 2 + varintSize(t.seconds) + varintSize(t.nanos);
}

function writeTimestamp(buf: Buffer, pos: number, key: number, t: PbTimestamp, size: number): number {
  buf[pos++] = key;
  pos = writeVarint(buf, pos, size);
  buf[pos++] = SECONDS;
  pos = writeVarint(buf, pos, t.seconds);
  buf[pos++] = NANOS;
  return writeVarint(buf, pos, t.nanos);
}

function writeString(buf: Buffer, pos: number, key: number, s: string, bytes: number): number {
  buf[pos++] = key;
  pos = writeVarint(buf, pos, bytes);
  return bytes === 0 ? pos : pos + buf.write(s, pos, bytes, "utf8");
}

/** The EntityState message of `s` (as toEntityState maps it); `unit` from the entity's metadata. */
export function encodeEntityState(s: EntityState, unit: string | null): Buffer {
  const number = typeof s.value === "number" ? s.value : null;
  const text = typeof s.value === "string" ? s.value : null;
  const raw = stateRaw(s);
  const meterTime = isoToTimestamp(s.timestamp);
  const meterTimeIso = stateMeterTimeIso(s, meterTime);
  const received = toTimestamp(s.receivedAtMs);
  const unitText = unit ?? "";

  const idBytes = Buffer.byteLength(s.entityId);
  const textBytes = text === null ? 0 : Buffer.byteLength(text);
  const rawBytes = Buffer.byteLength(raw);
  const isoBytes = Buffer.byteLength(meterTimeIso);
  const unitBytes = Buffer.byteLength(unitText);
  const meterTimeSize = meterTime === null ? 0 : timestampSize(meterTime);
  const receivedSize = timestampSize(received);
  const size =
    1 +
    varintSize(idBytes) +
    idBytes +
    (number !== null ? 9 : 0) +
    (text !== null ? 1 + varintSize(textBytes) + textBytes : 0) +
    (1 + varintSize(rawBytes) + rawBytes) +
    (meterTime !== null ? 1 + varintSize(meterTimeSize) + meterTimeSize : 0) +
    (1 + varintSize(isoBytes) + isoBytes) +
    (1 + varintSize(receivedSize) + receivedSize) +
    2 +
    (1 + varintSize(unitBytes) + unitBytes);

  const buf = Buffer.allocUnsafe(size);
  let pos = writeString(buf, 0, ENTITY_ID, s.entityId, idBytes);
  if (number !== null) {
    buf[pos++] = NUMBER;
    pos = buf.writeDoubleLE(number, pos);
  }
  if (text !== null) pos = writeString(buf, pos, TEXT, text, textBytes);
  pos = writeString(buf, pos, RAW, raw, rawBytes);
  if (meterTime !== null) pos = writeTimestamp(buf, pos, METER_TIME, meterTime, meterTimeSize);
  pos = writeString(buf, pos, METER_TIME_ISO, meterTimeIso, isoBytes);
  pos = writeTimestamp(buf, pos, RECEIVED_TIME, received, receivedSize);
  buf[pos++] = AVAILABLE;
  buf[pos++] = s.available ? 1 : 0;
  pos = writeString(buf, pos, UNIT, unitText, unitBytes);
  if (pos !== size) throw new Error(`EntityState encoding wrote ${pos} of ${size} bytes`);
  return buf;
}
