import { P1Error, preview, VIEW_MIN_LENGTH } from "../shared/index.ts";
import { crc16, crc16Update, formatCrc } from "./crc.ts";
import { BoundedMemo } from "./memo.ts";
import { detectVersion, lookupObject, mbusKey } from "./spec/lookup.ts";
import { OBJECTS } from "./spec/objects.ts";
import type { ObjectDef } from "./spec/types.ts";
import { VERSIONS, type VersionName } from "./spec/versions.ts";
import { decodeUnknown, decodeValue, parseDecimal, type Value } from "./values.ts";
import { differingWords, WordBytes } from "./words.ts";

/** One object of a telegram. */
export interface CosemObject {
  /** OBIS reference exactly as written (`1-0:31.7.0.255`, `0-1:24.2.1`). */
  readonly obis: string;
  /** Normalised `A-B:C.D.E` (a fifth group such as `.255` or `*255` dropped). */
  readonly key: string;
  /** M-Bus channel (value group B) for sub-meter objects, else 0. */
  readonly channel: number;
  /** The table entry, or undefined for an object no spec table knows. */
  readonly def: ObjectDef | undefined;
  readonly value: Value;
}

/** A parsed telegram. */
export interface Telegram {
  /** Identification line without the leading '/'. */
  readonly header: string;
  /** Detected protocol version; null for DSMR-like telegrams of no supported version. */
  readonly version: VersionName | null;
  readonly crc: "valid" | "absent";
  readonly objects: readonly CosemObject[];
  /** OBIS references (as written) no table knows; kept in `objects`, listed here so they are reported. */
  readonly unknown: readonly string[];
  /** Non-fatal oddities: values that did not fit their codec (kept raw), unusual CRC spelling. */
  readonly warnings: readonly string[];
}

/** Outcome of parsing one telegram. */
export type ParseResult =
  | { readonly ok: true; readonly telegram: Telegram }
  | { readonly ok: false; readonly error: P1Error };

const P1_VERSION_KEY = OBJECTS.p1_version_output.obis;
const SLASH = 0x2f;
const BANG = 0x21;
const HEX_CRC_RE = /^[0-9A-Fa-f]{1,4}$/;
/** The lists of a telegram that has no unknown object and no warning (most): one frozen array for all. */
const NONE: readonly string[] = Object.freeze([]);
// OBIS reference A-B:C.D.E with an optional fifth group written '.F' or '*F' (IEC 62056-61 §4).
const OBIS_RE = /^(\d{1,3})-(\d{1,3}):(\d{1,3}\.\d{1,3}\.\d{1,3})(?:[.*]\d{1,3})?$/;

/** What an OBIS reference as written means; computed once per distinct spelling. */
interface ObisInfo {
  readonly obis: string;
  /** Normalised `A-B:C.D.E`. */
  readonly key: string;
  /** `A-n:C.D.E` for objects on an M-Bus channel (B > 0), else null. */
  readonly wildcard: string | null;
  readonly b: number;
  /** Definition per detected version (null = no version), filled on first use. */
  readonly defs: Map<VersionName | null, ObjectDef | undefined>;
  /** The version looked up last (undefined: none yet) and its definition: a meter keeps its version. */
  lastVersion: VersionName | null | undefined;
  lastDef: ObjectDef | undefined;
  /**
   * A line of this reference, as written, with no groups: what a table keeps in place of a line read
   * anew once its telegram is out (see dropReadAnew). Shared, so never decoded.
   */
  bare: RawLine;
}

/*
 * The objects made for every changed line of every telegram (lines, objects, decimal and timestamp
 * values, group lists) come from classes and the Array constructor, not from literals: V8 decides per
 * literal whether to allocate its objects straight in the old generation, from how many of them
 * survived. A meter's first telegram keeps every line, which made it so for all later ones too, most of
 * which live for one telegram (3,000 in-process streams: ~2,660 instead of ~17 B per telegram into the
 * old generation).
 */

/** One object as read from the text, before its value is decoded. */
class RawLine {
  /** The object decoded for `decodedFor` (decoding depends only on the text and the version). */
  object: CosemObject | undefined = undefined;
  /** Why the value was kept raw, if it was. */
  warning: string | undefined = undefined;
  decodedFor: VersionName | null = null;

  constructor(
    readonly info: ObisInfo,
    /** Where its first '(' is, from the line's start. */
    readonly open: number,
    readonly groups: string[],
  ) {}
}

/** A CosemObject as the parser makes it (see above for why a class). */
class ParsedObject implements CosemObject {
  readonly obis: string;
  readonly key: string;
  readonly channel: number;
  readonly def: ObjectDef | undefined;
  readonly value: Value;
  /** See objectSerial (private: not one of the object's fields, in JSON or anywhere else). */
  readonly #serial: number;

  constructor(info: ObisInfo, def: ObjectDef | undefined, value: Value) {
    this.obis = info.obis;
    this.key = info.key;
    this.channel = def?.meter === "mbus" ? info.b : 0;
    this.def = def;
    this.value = value;
    this.#serial = ++lastSerial;
  }

  static serialOf(o: CosemObject): number {
    return #serial in o ? o.#serial : -1;
  }
}

let lastSerial = 0;

/**
 * A number the parser gives each object it makes, never the same for two (-1 for an object it did not
 * make). A telegram line that repeats the one before is not read again: the next telegram holds the
 * very same object, so an equal serial says "same value, same text, same own timestamp" without
 * looking at them (the store skips re-reading the ~28 of 36 values a meter repeats each second).
 */
export function objectSerial(o: CosemObject): number {
  return ParsedObject.serialOf(o);
}

// Meters repeat the same few dozen OBIS spellings forever; noise can produce many, so the memo is capped.
const OBIS_INFO = new BoundedMemo<ObisInfo | null>(2048, (written) => {
  const obis = written.trim();
  const m = OBIS_RE.exec(obis);
  if (!m) return null;
  const b = Number(m[2]);
  const key = `${m[1]}-${b}:${m[3]}`;
  const info: ObisInfo = {
    obis,
    key,
    wildcard: b !== 0 ? mbusKey(m[1] as string, m[3] as string) : null,
    b,
    defs: new Map(),
    lastVersion: undefined,
    lastDef: undefined,
    bare: undefined as unknown as RawLine, // set below: the two refer to each other
  };
  info.bare = new RawLine(info, written.length, []);
  return info;
});

/** Whether `line` is its reference's bare line, which stands for a line to be read again where it stood. */
function isBare(line: RawLine): boolean {
  return line === line.info.bare;
}

/**
 * A telegram as read: its bytes through '!', their CRC (when it was computed), and its lines in order
 * with where each started and where its reading ended: the first non-space after its last group (the
 * next line's start, or the end). Reading a line looks at no byte outside [start, end].
 */
class ReadTelegram {
  bytes = new WordBytes();
  /** CRC-16 of `bytes`, or -1 when not computed (a telegram without CRC). */
  crc = -1;
  /** The lines, kept allocated from one telegram to the next (as the word buffers are). */
  readonly lines: RawLine[] = [];
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  /**
   * The lines' objects, unknown OBIS references and value warnings, for `valuesFor` (undefined: none);
   * but for the `droppedCount` lines listed (ascending) in `dropped`, let go after the last telegram:
   * their objects are undefined here, and most of them are bare lines.
   */
  objects: (CosemObject | undefined)[] = [];
  unknown: string[] = [];
  lineWarnings: string[] = [];
  valuesFor: VersionName | null | undefined = undefined;
  readonly dropped: number[] = [];
  /** For each of those lines, how many telegrams in a row it has repeated since it last changed. */
  readonly droppedRepeats: number[] = [];
  droppedCount = 0;

  /** Writes line `k`. */
  setLine(k: number, line: RawLine, start: number, end: number): void {
    if (k === this.starts.length) {
      const starts = new Int32Array(2 * k);
      const ends = new Int32Array(2 * k);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.lines[k] = line;
    this.starts[k] = start;
    this.ends[k] = end;
  }
}

/** The version found for a telegram shape (same OBIS spellings, same 1-3:0.2.8, same CRC presence). */
interface Shape {
  readonly infos: readonly ObisInfo[];
  readonly p1Version: string | undefined;
  readonly hasCrc: boolean;
  readonly version: VersionName | null;
}

/**
 * A meter's next telegram changes ~10 words; one that changes more than this many (another meter, a
 * message appearing) is read by comparing lines one by one. Bounds the memory a stream keeps.
 */
const MAX_CHANGED_WORDS = 128;

/**
 * What parseTelegram remembers of the telegram before, to skip work; hints only, results never depend
 * on it. A meter repeats its lines in the same order and most of them verbatim (ids, counters, tariff,
 * zero registers), and its values keep their width, so the next telegram has the same length and
 * differs in a few words only: the CRC is updated from the one before by those words, and a line at
 * the same position whose bytes (through the end of its reading) are unchanged is that line again,
 * decoding and all. The lines that changed are not kept that way: they usually change again, so only
 * their OBIS references stay until the next telegram (see dropReadAnew). A telegram of the same shape
 * has the same version; shapes whose detection looked at a unit are not kept: the unit is a value. One
 * memory per stream (TelegramDecoder keeps its own), so interleaved meters do not evict each other's
 * hints.
 */
export class ParseMemory {
  last = new ReadTelegram();
  /** Indexes of the words in which `next` differs from `last`. */
  changedWords = new Int32Array(MAX_CHANGED_WORDS);
  /**
   * The version `last`'s values were decoded for before updateLines changed its lines (which leaves
   * them undecoded until the values step puts the new lines' objects in).
   */
  valuesBefore: VersionName | null | undefined = undefined;
  shape: Shape | undefined;
  /** Whether `shape.infos` are the infos of `last.lines` (as versionOf left them). */
  shapeIsLast = false;
  /** Set by updateLines: every line it read anew kept its OBIS reference (so the shape's infos hold). */
  sameInfos = false;
  /** The header of `last` (undefined: none yet). */
  header: string | undefined = undefined;
}

/**
 * What updateLines read, for the values step and dropReadAnew of the same parse. Shared by all memories
 * (parsing is synchronous), as NEXT is: lists per memory held ~1 KB a stream (5 MB at 5,000 meters)
 * for what lives only during one parse, and were long-lived objects given the new lines of every
 * telegram (pointers from the old generation to the young one, which every scavenge visits).
 */
class LineUpdates {
  /**
   * The lines read anew and their indexes, `updatedCount` of them (the lines only until they are in
   * the table).
   */
  readonly updated: (RawLine | undefined)[] = [];
  readonly updatedAt: number[] = [];
  updatedCount = 0;
  /** The lines let go after the last telegram that did not change now (bare lines read again), and where. */
  readonly restored: (RawLine | undefined)[] = [];
  readonly restoredAt: number[] = [];
  /** How many telegrams in a row each of them has repeated now. */
  readonly restoredRepeats: number[] = [];
  restoredCount = 0;
}

const UPDATES = new LineUpdates();

/** The memory of callers that pass none (one-off parses, the CLI). */
const SHARED_MEMORY = new ParseMemory();

/**
 * The telegram being read, shared by all memories (parsing is synchronous): what of it is kept is
 * copied into the memory's `last`, so a stream holds one table, not a spare one besides.
 */
const NEXT = new ReadTelegram();

/**
 * The version of a telegram of these lines. `sameInfos`: the lines are the last telegram's, with the
 * same OBIS references, so a shape that held for those holds for these without comparing them.
 */
function versionOf(
  lines: readonly RawLine[],
  hasCrc: boolean,
  memory: ParseMemory,
  sameInfos: boolean,
): VersionName | null {
  let p1Version: string | undefined;
  for (const l of lines) {
    if (l.info.key === P1_VERSION_KEY) {
      p1Version = l.groups[0];
      break;
    }
  }
  const shape = memory.shape;
  if (
    shape &&
    shape.hasCrc === hasCrc &&
    shape.p1Version === p1Version &&
    shape.infos.length === lines.length
  ) {
    let same = sameInfos && memory.shapeIsLast;
    if (!same) {
      same = true;
      for (let i = 0; i < lines.length && same; i++) same = shape.infos[i] === lines[i]?.info;
    }
    memory.shapeIsLast = same;
    if (same) return shape.version;
  }
  const keys = new Set<string>();
  for (const l of lines) {
    keys.add(l.info.key);
    if (l.info.wildcard !== null) keys.add(l.info.wildcard);
  }
  let usedUnit = false;
  const unitOf = (key: string) => {
    usedUnit = true;
    const line = lines.find((l) => l.info.key === key && l.groups.length === 1);
    return line ? (parseDecimal(line.groups[0] as string)?.unit ?? null) : undefined;
  };
  const version = detectVersion({ p1Version, hasCrc, keys, unitOf });
  memory.shape = usedUnit ? undefined : { infos: lines.map((l) => l.info), p1Version, hasCrc, version };
  memory.shapeIsLast = !usedUnit;
  return version;
}

function defOf(info: ObisInfo, version: VersionName | null): ObjectDef | undefined {
  if (info.lastVersion === version) return info.lastDef;
  let def: ObjectDef | undefined;
  if (info.defs.has(version)) def = info.defs.get(version);
  else {
    def = lookupObject(version, info.key, info.wildcard);
    info.defs.set(version, def);
  }
  info.lastVersion = version;
  info.lastDef = def;
  return def;
}

const UPPER_HEX = "0123456789ABCDEF";

/**
 * The index of the last '!' in `buf`, else -1. The framer yields a telegram with at most its CRC and line
 * end after the '!': looking at those few bytes first saves a call of lastIndexOf, which costs more.
 */
function lastBang(buf: Buffer): number {
  const stop = buf.length - 8;
  for (let i = buf.length - 1; i >= stop && i >= 0; i--) if (buf[i] === BANG) return i;
  return stop > 0 ? buf.lastIndexOf(BANG, stop - 1) : -1;
}

/** Whether `bytes[at, at + 4)` is `crc` as formatCrc writes it. */
function isWrittenCrc(bytes: Uint8Array, at: number, crc: number): boolean {
  for (let k = 0; k < 4; k++)
    if (bytes[at + k] !== UPPER_HEX.charCodeAt((crc >>> (12 - 4 * k)) & 0xf)) return false;
  return true;
}

function fail(
  code: "TRUNCATED" | "CRC_MISMATCH" | "MALFORMED_LINE" | "FRAME_INVALID",
  message: string,
  context?: Record<string, unknown>,
): ParseResult {
  return { ok: false, error: new P1Error(code, message, context) };
}

/**
 * Parses one telegram ('/' .. '!' [CRC]) as the framer yields it. Checks the CRC first (any case,
 * 1-4 hex digits compared by value: some Belgian meters drop leading zeros), then reads the lines and
 * decodes each object with its version's table. Unknown objects are kept and listed, never fatal; a
 * line that is not `OBIS(value)...` rejects the telegram (MALFORMED_LINE). Pure but for `memory`, hints
 * from the telegram before that only save work: pass one per stream.
 */
export function parseTelegram(bytes: Uint8Array, memory: ParseMemory = SHARED_MEMORY): ParseResult {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[0] !== SLASH)
    return fail("FRAME_INVALID", `telegram must start with '/', got ${preview(buf.subarray(0, 8))}`);
  const bang = lastBang(buf);
  if (bang === -1) return fail("TRUNCATED", "telegram has no end marker '!'", { bytes: buf.length });

  // ---- Comparison with the telegram before: the words that changed, when it had the same length ----
  const length = bang + 1;
  const last = memory.last;
  const next = NEXT;
  next.bytes.fill(buf, length);
  next.crc = -1;
  // How many words changed; -1: another length or too many changes, lines are compared one by one.
  const changed =
    last.bytes.length === length ? differingWords(last.bytes, next.bytes, memory.changedWords) : -1;

  // ---- CRC: the characters after '!' up to the line end ----
  let crcEnd = bang + 1;
  while (crcEnd < buf.length && crcEnd - bang <= 8 && buf[crcEnd] !== 0x0d && buf[crcEnd] !== 0x0a) crcEnd++;
  let crcWarning: string | undefined;
  let crc: Telegram["crc"] = "absent";
  // The usual spelling, four upper-case hex digits that match, is checked on the bytes; anything else
  // (no CRC, other spellings, a mismatch) takes the general path, which words the errors and warnings
  // (a mismatch computes the CRC once more there: only for a broken telegram).
  if (crcEnd === bang + 5) {
    next.crc =
      changed >= 0 && last.crc >= 0
        ? crc16Update(last.crc, last.bytes.bytes, next.bytes.bytes, memory.changedWords, changed, length)
        : crc16(buf, 0, length);
  }
  if (next.crc >= 0 && isWrittenCrc(buf, bang + 1, next.crc)) crc = "valid";
  else {
    const crcText = buf.toString("latin1", bang + 1, crcEnd).trim();
    if (crcText.length > 0) {
      if (!HEX_CRC_RE.test(crcText)) {
        return fail("CRC_MISMATCH", `CRC field ${JSON.stringify(crcText)} is not 4 hex digits`, {
          received: crcText,
        });
      }
      const expected = crc16(buf, 0, bang + 1);
      if (Number.parseInt(crcText, 16) !== expected) {
        return fail(
          "CRC_MISMATCH",
          `CRC mismatch: computed ${formatCrc(expected)}, telegram says ${crcText}`,
          {
            expected: formatCrc(expected),
            received: crcText,
          },
        );
      }
      if (crcText !== formatCrc(expected))
        crcWarning = `CRC written as ${JSON.stringify(crcText)} (accepted by value)`;
      crc = "valid";
      next.crc = expected;
    }
  }

  // ---- Lines ----
  const text = buf.toString("latin1", 0, bang);
  const headerEnd = text.indexOf("\n");
  if (headerEnd === -1)
    return fail("MALFORMED_LINE", "telegram has no line after its header", { header: preview(text) });
  const headerStop = text.charCodeAt(headerEnd - 1) === 0x0d ? headerEnd - 1 : headerEnd;
  // The last telegram's header string when no changed word holds a byte of it (a meter's never changes).
  const header =
    changed >= 0 &&
    memory.header !== undefined &&
    (changed === 0 || (memory.changedWords[0] as number) > headerStop >>> 2)
      ? memory.header
      : headerStop - 1 >= VIEW_MIN_LENGTH
        ? buf.toString("latin1", 1, headerStop)
        : text.slice(1, headerStop);
  const inPlace = changed >= 0 && updateLines(text, buf, headerEnd + 1, memory, changed);
  if (!inPlace) {
    const error = readLines(text, buf, headerEnd + 1, memory, changed);
    if (error) return { ok: false, error };
  }
  memory.header = header; // the header of `last`, which now holds these bytes
  const table = memory.last;
  const lines = table.lines;

  // ---- Version ----
  const version = versionOf(lines, crc === "valid", memory, inPlace && memory.sameInfos);
  if (version && VERSIONS[version].crc && crc === "absent") {
    if (inPlace) dropReadAnew(table); // the lines read anew go as after any telegram
    return fail("CRC_MISMATCH", `${VERSIONS[version].title} telegrams carry a CRC, this one has none`, {
      received: "",
    });
  }

  // ---- Values ----
  // Fresh arrays: a telegram handed out stays as it is (consumers may keep it), the table does not.
  let objects =
    inPlace && memory.valuesBefore === version ? (table.objects.slice() as CosemObject[]) : undefined;
  if (objects === undefined || !updateValues(table, version, objects)) {
    decodeValues(table, version);
    objects = table.objects.slice() as CosemObject[];
  }
  const { lineWarnings } = table;
  const telegram: Telegram = {
    header,
    version,
    crc,
    objects,
    unknown: table.unknown.length === 0 ? NONE : table.unknown.slice(),
    warnings:
      crcWarning !== undefined
        ? [crcWarning, ...lineWarnings]
        : lineWarnings.length === 0
          ? NONE
          : lineWarnings.slice(),
  };
  if (inPlace) dropReadAnew(table);
  return { ok: true, telegram };
}

/** A line let go after it changed is kept again once it has repeated in this many telegrams in a row. */
const REPEATS_TO_KEEP = 2;

/** Whether a line let go before and read again, having repeated `repeats` telegrams in a row, is kept. */
function keptAfter(repeats: number): boolean {
  return repeats >= REPEATS_TO_KEEP;
}

/**
 * Lets go of the lines updateLines read anew, once they are in the result: a line that changed is
 * likely to change again in the meter's next telegram, so keeping its groups and object until then
 * would only keep them alive for a second (long enough for the GC to move them to the old generation:
 * at thousands of meters, megabytes a second). The bare line of its reference stands in; should the
 * line repeat, it is read again, and kept once it has repeated REPEATS_TO_KEEP telegrams in a row (a
 * value that flips to and fro, a voltage's last digit, would otherwise be kept for a second each time).
 * Both lists are ascending; so is what is let go.
 */
function dropReadAnew(table: ReadTelegram): void {
  const { updatedAt, updatedCount, restoredAt, restoredRepeats, restoredCount } = UPDATES;
  let n = 0;
  for (let i = 0, j = 0; i < updatedCount || j < restoredCount; ) {
    let at: number;
    let repeats = 0;
    if (j === restoredCount || (i < updatedCount && (updatedAt[i] as number) < (restoredAt[j] as number)))
      at = updatedAt[i++] as number;
    else {
      repeats = restoredRepeats[j] as number;
      at = restoredAt[j++] as number;
      if (keptAfter(repeats)) continue;
    }
    const line = table.lines[at] as RawLine;
    // A reference written with spaces before its '(' reads with another `open`: only its object goes.
    if (line.open === line.info.bare.open) table.lines[at] = line.info.bare;
    else line.object = undefined;
    table.objects[at] = undefined;
    table.dropped[n] = at;
    table.droppedRepeats[n++] = repeats;
  }
  table.droppedCount = n;
}

/**
 * Gives `last` the bytes just read, and the shared table `last`'s old buffer to fill next time: the
 * buffers go round the streams without copying (fill shrinks one much larger than a telegram).
 */
function swapBytes(last: ReadTelegram, next: ReadTelegram): void {
  const bytes = last.bytes;
  last.bytes = next.bytes;
  next.bytes = bytes;
}

/** Decodes every line of `table` for `version` (lines decoded for it before keep their object). */
function decodeValues(table: ReadTelegram, version: VersionName | null): void {
  const objects: CosemObject[] = [];
  const unknown: string[] = [];
  const lineWarnings: string[] = [];
  for (const l of table.lines) {
    if (l.object === undefined || l.decodedFor !== version) decodeLine(l, version);
    const object = l.object as CosemObject;
    if (l.warning !== undefined) lineWarnings.push(l.warning);
    if (object.def === undefined) unknown.push(object.obis);
    objects.push(object);
  }
  table.objects = objects;
  table.unknown = unknown;
  table.lineWarnings = lineWarnings;
  table.valuesFor = version;
  table.droppedCount = 0;
}

/**
 * After updateLines, when the table's values were decoded for this version: decodes the lines read
 * anew and those read again (let go after the last telegram) into their places in `objects`, the
 * telegram's copy of the table's. Only a line kept from now on (see dropReadAnew) puts its object in
 * the table too: the others are let go at the end of this parse, and writing a new object into the
 * long-lived table, only to clear it again, cost a write barrier and a slot for every scavenge to
 * visit. False when a list would change (the table, or a line decoded here, has an unknown object or
 * a warning): decodeValues then does it all.
 */
function updateValues(table: ReadTelegram, version: VersionName | null, objects: CosemObject[]): boolean {
  if (table.unknown.length > 0 || table.lineWarnings.length > 0) return false;
  const { updatedAt, updatedCount, restoredAt, restoredRepeats, restoredCount } = UPDATES;
  for (let i = 0; i < updatedCount + restoredCount; i++) {
    const restored = i >= updatedCount;
    const at = (restored ? restoredAt[i - updatedCount] : updatedAt[i]) as number;
    const l = table.lines[at] as RawLine;
    if (l.object === undefined || l.decodedFor !== version) decodeLine(l, version);
    const object = l.object as CosemObject;
    if (l.warning !== undefined || object.def === undefined) return false;
    objects[at] = object;
    if (restored && keptAfter(restoredRepeats[i - updatedCount] as number)) table.objects[at] = object;
  }
  table.valuesFor = version;
  table.droppedCount = 0;
  return true;
}

/** Decodes a line's object for `version` into the line. */
function decodeLine(l: RawLine, version: VersionName | null): void {
  const { info } = l;
  const def = defOf(info, version);
  let value: Value;
  let warning: string | undefined;
  if (def) {
    const decoded = decodeValue(def.codec, l.groups, def.unit ?? null);
    if (typeof decoded === "string") {
      warning = `${info.obis}: ${decoded}; kept raw`;
      value = { kind: "raw", values: l.groups };
    } else value = decoded;
  } else value = decodeUnknown(l.groups);
  l.object = new ParsedObject(info, def, value);
  l.warning = warning;
  l.decodedFor = version;
}

/**
 * The common case of a meter's next telegram, in place: the telegram has the last one's length, the
 * lines that hold a changed word read without error and each ends where it ended before, so every
 * line starts where it did and the others read as they did. Replaces those lines in `memory.last`,
 * which takes this telegram's bytes; false, changing nothing, when that does not hold (readLines then
 * reads the telegram).
 */
function updateLines(text: string, buf: Buffer, from: number, memory: ParseMemory, changed: number): boolean {
  const last = memory.last;
  const next = NEXT;
  const count = last.lines.length;
  if (count === 0 || skipSpace(text, from) !== last.starts[0]) return false;
  const { changedWords } = memory;
  const { updated, updatedAt } = UPDATES;
  let u = 0;
  let sameInfos = true;
  let m = 0; // the first line that ends at or after the current word
  for (let c = 0; c < changed; c++) {
    const w = changedWords[c] as number;
    while (m < count && (last.ends[m] as number) >>> 2 < w) m++;
    // Lines meet at a position (one ends where the next starts): a word may hold parts of several.
    for (let j = m; j < count && (last.starts[j] as number) >>> 2 <= w; j++) {
      if (u > 0 && (updatedAt[u - 1] as number) >= j) continue;
      // w is the first changed word of line j: when it starts after the line's '(', the OBIS reference
      // and the '(' are the bytes they were.
      const start = last.starts[j] as number;
      const previous = last.lines[j] as RawLine;
      const open = 4 * w > start + previous.open ? start + previous.open : -1;
      const read = readLine(text, buf, start, previous, open, false);
      if (read instanceof P1Error || readAfter !== last.ends[j]) return forget(updated, u);
      if (read.info !== previous.info) sameInfos = false;
      updated[u] = read;
      updatedAt[u++] = j;
    }
  }
  // The bare lines that did not change now are read again where they stand (their bytes are the
  // same, so they read as they did); kept once they have repeated REPEATS_TO_KEEP times (dropReadAnew).
  const { restored, restoredAt, restoredRepeats } = UPDATES;
  let r = 0;
  for (let i = 0, k = 0; i < last.droppedCount; i++) {
    const d = last.dropped[i] as number;
    const bare = last.lines[d] as RawLine;
    while (k < u && (updatedAt[k] as number) < d) k++;
    if (k < u && updatedAt[k] === d) continue;
    const repeats = (last.droppedRepeats[i] as number) + 1;
    let read: RawLine | P1Error = bare; // a line that only lost its object (see dropReadAnew)
    if (isBare(bare)) {
      const start = last.starts[d] as number;
      read = readLine(text, buf, start, bare, start + bare.open, keptAfter(repeats));
      if (read instanceof P1Error || readAfter !== last.ends[d]) {
        forget(updated, u);
        return forget(restored, r);
      }
    }
    restored[r] = read;
    restoredRepeats[r] = repeats;
    restoredAt[r++] = d;
  }
  for (let i = 0; i < u; i++) {
    last.lines[updatedAt[i] as number] = updated[i] as RawLine;
    updated[i] = undefined;
  }
  for (let i = 0; i < r; i++) {
    last.lines[restoredAt[i] as number] = restored[i] as RawLine;
    restored[i] = undefined;
  }
  UPDATES.updatedCount = u;
  UPDATES.restoredCount = r;
  memory.sameInfos = sameInfos;
  memory.valuesBefore = last.valuesFor;
  last.valuesFor = undefined;
  swapBytes(last, next);
  last.crc = next.crc;
  return true;
}

/** Empties the first `count` entries of a scratch list; false (for updateLines to return). */
function forget(lines: (RawLine | undefined)[], count: number): false {
  for (let i = 0; i < count; i++) lines[i] = undefined;
  return false;
}

/**
 * Splits the body into `OBIS(group)(group)...` objects into the shared table, then copies them into
 * `memory.last`. A group may continue on the next line (DSMR 2.2/3.0 gas value) and a group's text may
 * wrap over a line end (long 96.13.0 messages); both are joined. Blank lines are skipped. With
 * `changed` >= 0 the telegram has the last one's length and differs from it only in the first
 * `changed` words of `memory.changedWords`: a line of the last telegram that started at the same
 * position and whose bytes through the end of its reading are unchanged reads the same, so it is taken
 * as it is. With another length (`changed` -1) such lines are looked for by comparing their bytes, at
 * the same position or moved by the difference in length.
 */
function readLines(
  text: string,
  buf: Buffer,
  from: number,
  memory: ParseMemory,
  changed: number,
): P1Error | undefined {
  const last = memory.last;
  const next = NEXT;
  const changedWords = memory.changedWords;
  const lastCount = last.lines.length;
  let k = 0; // lines read
  let m = 0; // the first of the last telegram's lines that starts at or after pos
  let c = 0; // the first changed word at or after pos's word
  let moved = false; // another length: the last line taken over had moved
  let pos = from;
  const n = text.length;
  while (pos < n) {
    pos = skipSpace(text, pos);
    if (pos >= n) break;
    if (changed >= 0) {
      while (m < lastCount && (last.starts[m] as number) < pos) m++;
      if (m < lastCount && last.starts[m] === pos) {
        while (c < changed && (changedWords[c] as number) < pos >>> 2) c++;
        // The last telegram's lines from here up to the next changed word read as they did.
        const limit = c < changed ? (changedWords[c] as number) : 0x7fffffff;
        const first = k;
        while (
          m < lastCount &&
          last.starts[m] === pos &&
          (last.ends[m] as number) >>> 2 < limit &&
          !isBare(last.lines[m] as RawLine)
        ) {
          const end = last.ends[m] as number;
          next.setLine(k++, last.lines[m] as RawLine, pos, end);
          pos = end;
          m++;
        }
        if (k > first) continue;
      }
    } else if (lastCount > 0) {
      // Another length: a line grew or shrank, the lines before it are where they were, those after it
      // moved by the difference (tried first once a moved line was found).
      const shift = next.bytes.length - last.bytes.length;
      let j = sameLineAt(last, next.bytes, pos, moved ? shift : 0, n);
      if (j < 0) {
        j = sameLineAt(last, next.bytes, pos, moved ? 0 : shift, n);
        if (j >= 0) moved = !moved;
      }
      if (j >= 0 && !isBare(last.lines[j] as RawLine)) {
        const end = pos + (last.ends[j] as number) - (last.starts[j] as number);
        next.setLine(k++, last.lines[j] as RawLine, pos, end);
        pos = end;
        continue;
      }
    }
    const read = readLine(text, buf, pos, last.lines[k], -1, true);
    if (read instanceof P1Error) {
      next.lines.length = 0; // the shared table keeps no stream's lines
      return read;
    }
    next.setLine(k++, read, pos, readAfter);
    pos = readRest;
  }
  // Into `last`: the lines, then the bytes (the loop above compared the last telegram's).
  for (let i = 0; i < k; i++)
    last.setLine(i, next.lines[i] as RawLine, next.starts[i] as number, next.ends[i] as number);
  last.lines.length = k;
  next.lines.length = 0; // the shared table keeps no stream's lines
  last.valuesFor = undefined;
  last.droppedCount = 0; // bare lines were read again
  swapBytes(last, next);
  last.crc = next.crc;
  return undefined;
}

/**
 * The index of the last telegram's line that started at `pos - shift`, if its bytes through the end of
 * its reading are the bytes at `pos` now (and it ended the text if and only if they do), else -1: that
 * line reads the same here.
 */
function sameLineAt(last: ReadTelegram, now: WordBytes, pos: number, shift: number, n: number): number {
  const count = last.lines.length;
  const start = pos - shift;
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((last.starts[mid] as number) < start) lo = mid + 1;
    else hi = mid;
  }
  if (count === 0 || last.starts[lo] !== start) return -1;
  const end = last.ends[lo] as number;
  const lastN = last.bytes.length - 1; // the last text's length: its '!'
  if (end - start + pos > n || (end === lastN) !== (end - start + pos === n)) return -1;
  const before = last.bytes.bytes;
  const bytes = now.bytes;
  for (let i = 0; i <= end - start; i++) if (before[start + i] !== bytes[pos + i]) return -1;
  return lo;
}

/**
 * Where the line readLine returned last ended: the first non-space after its last group, and its line
 * end. Read right after the call (as an object per line they were a third of the garbage of reading one).
 */
let readAfter = 0;
let readRest = 0;

/**
 * Reads the object that starts at `pos` (not a space) of `text`, `buf`'s bytes as latin1. `previous`, the last telegram's line at this
 * index, is a hint only: its OBIS reference is tried first. `knownOpen` >= 0 says the bytes from `pos`
 * through `knownOpen`, its '(', are those `previous` was read from. `kept`: the line may outlive its
 * telegram (else it is let go with it, see dropReadAnew, and its groups may be views of the text).
 * Looks at no byte past `readAfter`.
 */
function readLine(
  text: string,
  buf: Buffer,
  pos: number,
  previous: RawLine | undefined,
  knownOpen: number,
  kept: boolean,
): RawLine | P1Error {
  const n = text.length;
  let open = knownOpen;
  let info: ObisInfo | null;
  if (previous !== undefined && open >= 0) info = previous.info;
  else {
    open = text.indexOf("(", pos);
    if (open === -1) return malformed(text, pos, "expected OBIS(value)");
    // A changed line usually keeps its OBIS reference: try the previous one before cutting the reference
    // out and looking it up. A match holds no line end, so '(' is on this line.
    if (
      previous !== undefined &&
      previous.info.obis.length === open - pos &&
      sameText(text, pos, previous.info.obis)
    )
      info = previous.info;
    else {
      if (open > lineEnd(text, pos)) return malformed(text, pos, "expected OBIS(value)");
      info = OBIS_INFO.get(text.slice(pos, open));
    }
  }
  if (!info) return malformed(text, pos, "not an OBIS reference");
  // A line let go with its telegram may hold views of the text; but for one written with spaces before
  // its '(', which keeps its groups when it is let go (see dropReadAnew).
  const views = !kept && open - pos === info.bare.open;
  // Most objects have one group: an array made of it holds just that, where pushing onto an empty one
  // reserves room for 17 (an Array of one rather than a literal: see RawLine).
  let groups: string[] | undefined;
  let p = open;
  let after: number; // first non-space after the last group
  let newline: number; // the first line end between the last group and `after`, else -1
  for (;;) {
    // One pass to the closing ')', noting what the value must not hold or needs joined. The scans read
    // the bytes, which hold the text's characters at the same positions: a typed array's element is
    // read in about half the time of a string's character code.
    let close = p + 1;
    let wrapped = false;
    let nested = false;
    for (; close < n; close++) {
      const ch = buf[close] as number;
      if (ch === 0x29) break; // ')'
      if (ch === 0x28) nested = true;
      else if (ch === 0x0a || ch === 0x0d) wrapped = true;
    }
    if (close === n) return malformed(text, pos, "unterminated value");
    if (nested) return malformed(text, pos, "'(' inside a value");
    // A group long enough to be cut as a view of the text is copied from the bytes for a line that may
    // be kept, so a line kept for many telegrams does not hold the text of the one it was read from.
    const joined = wrapped
      ? text.slice(p + 1, close).replace(/[\r\n]/g, "")
      : close - p - 1 >= VIEW_MIN_LENGTH && !views
        ? buf.toString("latin1", p + 1, close)
        : text.slice(p + 1, close);
    if (groups === undefined) {
      groups = new Array<string>(1);
      groups[0] = joined;
    } else groups.push(joined);
    p = close + 1;
    // skipSpace, noting the first line end on the way (instead of searching for it afterwards).
    newline = -1;
    after = p;
    for (; after < n; after++) {
      const c = buf[after] as number;
      if (c === 0x0a) {
        if (newline === -1) newline = after;
      } else if (c !== 0x0d && c !== 0x20 && c !== 0x09 && c !== 0x00) break;
    }
    if (buf[after] !== 0x28) break; // another '(' group follows (buf[n] is the '!')
    p = after;
  }
  // Text after the value on its line; else the line ends at the first line end after the value.
  if (newline === -1 && after < n) return malformed(text, pos, "unexpected text after the value");
  readAfter = after;
  readRest = newline === -1 ? n : newline;
  return new RawLine(info, open - pos, groups as string[]);
}

function skipSpace(text: string, pos: number): number {
  let i = pos;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x0d && c !== 0x0a && c !== 0x20 && c !== 0x09 && c !== 0x00) break;
    i++;
  }
  return i;
}

function lineEnd(text: string, pos: number): number {
  const i = text.indexOf("\n", pos);
  return i === -1 ? text.length : i;
}

function malformed(text: string, pos: number, why: string): P1Error {
  const line = text.slice(pos, lineEnd(text, pos)).replace(/\r$/, "");
  return new P1Error("MALFORMED_LINE", `${why}: ${preview(line, 60)}`, { line: preview(line, 60) });
}

/** Whether `text` holds `s` at `pos`. A slice and === measured about twice as fast as startsWith here. */
function sameText(text: string, pos: number, s: string): boolean {
  return text.slice(pos, pos + s.length) === s;
}
