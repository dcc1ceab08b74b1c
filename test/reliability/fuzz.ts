import fc from "fast-check";
import { crc16, formatCrc } from "../../src/dsmr/index.ts";
import { type Decoded, TelegramDecoder } from "../../src/gateway/index.ts";
import { type ErrorCode, isP1Error } from "../../src/shared/index.ts";
import { encryptFrame } from "../../src/smarty/index.ts";
import { fixture } from "../helpers/fixtures.ts";
import { applyEdits, chunked, type Edit, editsArb } from "../helpers/streams.ts";

// The fuzzer behind `npm run fuzz` and its short seeded run in `npm test`: bursts of valid units,
// mutated units, huge telegrams and random bytes go through the gateway's TelegramDecoder (framer,
// decryption, parser) in random chunks. Properties: nothing but typed P1Errors comes out, every valid
// unit hidden among the garbage is recovered, and the work per input is bounded by its size.

const KEY = Buffer.from("101112131415161718191A1B1C1D1E1F", "hex");
const TITLE = Buffer.from("4C55580000000001", "hex");
const MAX_TELEGRAM_BYTES = 16 * 1024;

/** A DSMR 5.0 telegram whose text message (0-0:96.13.0) carries `hexDigits` hex digits, with its CRC fixed. */
export function withTextMessage(hexDigits: number): Buffer {
  const base = fixture("dsmr50.txt").toString("latin1");
  const text = "54".repeat(Math.ceil(hexDigits / 2)).slice(0, hexDigits);
  const body = base.replace(/0-0:96\.13\.0\([0-9A-F]*\)/, `0-0:96.13.0(${text})`);
  const bang = body.lastIndexOf("!");
  const head = Buffer.from(body.slice(0, bang + 1), "latin1");
  return Buffer.concat([head, Buffer.from(`${formatCrc(crc16(head))}\r\n`, "latin1")]);
}

// Valid plaintext units: every fixture version, plus the longest text message DSMR 5.0 allows
// (1024 characters = 2048 hex digits), which must still pass.
const PLAIN = [
  ...["nta8130.txt", "dsmr22.txt", "dsmr30.txt", "dsmr40.txt", "dsmr404.txt", "dsmr42.txt", "dsmr50.txt"].map(
    fixture,
  ),
  fixture("emucs.txt"),
  withTextMessage(2048),
];
// Valid encrypted units (Smarty-style frames), each with its own frame counter.
const ENCRYPTED = [
  encryptFrame(fixture("smarty.txt"), TITLE, 5, { key: KEY }),
  encryptFrame(fixture("smarty.txt"), TITLE, 6, { key: KEY }),
  encryptFrame(withTextMessage(2048), TITLE, 7, { key: KEY }),
];
// Over the cap: a text message far beyond what any meter writes (TOO_LARGE, never buffered whole).
const HUGE_PLAIN = withTextMessage(3 * MAX_TELEGRAM_BYTES);
const HUGE_ENCRYPTED = encryptFrame(withTextMessage(2 * MAX_TELEGRAM_BYTES), TITLE, 8, { key: KEY });

/** One burst of a stream: what a meter (or noise) writes between two pauses. */
export type Burst =
  | { readonly kind: "valid"; readonly unit: number }
  | { readonly kind: "mutated"; readonly unit: number; readonly edits: readonly Edit[] }
  | { readonly kind: "huge" }
  | { readonly kind: "random"; readonly bytes: Uint8Array };

/** One fuzz input: a plaintext or an encrypted stream of bursts, delivered in random chunks. */
export interface FuzzInput {
  readonly encrypted: boolean;
  readonly bursts: readonly Burst[];
  readonly cuts: readonly number[];
}

const burstArb: fc.Arbitrary<Burst> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("valid" as const), unit: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("mutated" as const), unit: fc.nat(), edits: editsArb() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("huge" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 600 }) }),
  },
);

/** The fuzz input generator. */
export const fuzzInputArb: fc.Arbitrary<FuzzInput> = fc.record({
  encrypted: fc.boolean(),
  bursts: fc.array(burstArb, { minLength: 1, maxLength: 6 }),
  cuts: fc.array(fc.nat(), { maxLength: 24 }),
});

/** What one input did. */
export interface FuzzOutcome {
  readonly inputBytes: number;
  /** Valid units in the input, and how many of them came out intact and in order. */
  readonly valid: number;
  readonly recovered: number;
  readonly results: number;
  /** Bytes of every unit handed on (parsed or dropped): work beyond the scan itself. */
  readonly resultBytes: number;
  readonly errors: Readonly<Partial<Record<ErrorCode, number>>>;
}

/** The bytes as the framer yields a unit: a plaintext telegram without its final line end. */
function framed(unit: Buffer): string {
  return unit.toString("latin1").replace(/\r\n$/, "");
}

function unitOf(input: FuzzInput, index: number): Buffer {
  const units = input.encrypted ? ENCRYPTED : PLAIN;
  return units[index % units.length] as Buffer;
}

function burstBytes(input: FuzzInput, b: Burst): Buffer {
  switch (b.kind) {
    case "valid":
      return unitOf(input, b.unit);
    case "mutated":
      return applyEdits(unitOf(input, b.unit), b.edits);
    case "huge":
      return input.encrypted ? HUGE_ENCRYPTED : HUGE_PLAIN;
    case "random":
      return Buffer.from(b.bytes);
  }
}

/**
 * Runs one input through a fresh decoder. Plaintext meters write every second, so their bursts run
 * together; encrypted meters write every 10 s and the gateway gives up a partial frame after 5 s of
 * silence, so each encrypted burst is followed by a flush, as the gateway does.
 * Throws (failing the property) on anything but a typed P1Error.
 */
export function decodeInput(input: FuzzInput): FuzzOutcome {
  const decoder = new TelegramDecoder({ decryptionKey: KEY, maxTelegramBytes: MAX_TELEGRAM_BYTES });
  const results: Decoded[] = [];
  const expected: string[] = [];
  let inputBytes = 0;
  for (const [i, burst] of input.bursts.entries()) {
    const bytes = burstBytes(input, burst);
    inputBytes += bytes.length;
    if (burst.kind === "valid") expected.push(framed(bytes));
    for (const chunk of chunked(
      bytes,
      input.cuts.map((c) => c + i),
    ))
      results.push(...decoder.push(chunk));
    if (input.encrypted) results.push(...decoder.flush());
  }
  results.push(...decoder.flush());

  const errors: Partial<Record<ErrorCode, number>> = {};
  let resultBytes = 0;
  const ok: string[] = [];
  for (const r of results) {
    resultBytes += r.raw?.length ?? 0;
    if (r.ok) ok.push(r.raw.toString("latin1"));
    else {
      if (!isP1Error(r.error)) throw new Error(`untyped error result: ${String(r.error)}`);
      errors[r.error.code] = (errors[r.error.code] ?? 0) + 1;
    }
  }
  // The valid units must come out as a subsequence of the good results, in order.
  let recovered = 0;
  let at = 0;
  for (const want of expected) {
    const found = ok.indexOf(want, at);
    if (found === -1) continue;
    recovered++;
    at = found + 1;
  }
  return { inputBytes, valid: expected.length, recovered, results: results.length, resultBytes, errors };
}

/** Totals of a fuzz run. */
export interface FuzzReport {
  readonly seed: number;
  readonly inputs: number;
  readonly bytes: number;
  readonly validHidden: number;
  readonly recovered: number;
  readonly lost: number;
  readonly results: number;
  readonly errors: Partial<Record<ErrorCode, number>>;
  /** Slowest single input (ms) and its size; wall time, so reported, never asserted in tests. */
  readonly maxInputMs: number;
  readonly maxInputBytes: number;
  /** 1-based index of the slowest input (replay: P1_FUZZ_RUNS=<index> with the same seed). */
  readonly maxInputIndex: number;
  /** Inputs that took over 10 ms and over 100 ms of wall time (GC pauses and scheduling included). */
  readonly over10ms: number;
  readonly over100ms: number;
  /** Largest (results + result bytes) / input bytes of one input: the work bound the test asserts. */
  readonly maxWorkRatio: number;
}

/** Options of a fuzz run. */
export interface FuzzOptions {
  readonly seed: number;
  readonly runs: number;
  /** Called every `every` inputs (progress, heap samples). */
  readonly onProgress?: (done: number) => void;
  readonly every?: number;
}

/** Allowed work per input: result count plus bytes handed on, per input byte (plus a constant). */
export const MAX_WORK_RATIO = 3;

/**
 * Runs `runs` seeded inputs; fast-check prints the seed, path and shrunk input of the first that
 * fails (an escaping exception, an untyped error, a lost valid unit or work beyond MAX_WORK_RATIO).
 */
export function runFuzz(options: FuzzOptions): FuzzReport {
  const totals = {
    inputs: 0,
    bytes: 0,
    validHidden: 0,
    recovered: 0,
    results: 0,
    errors: {} as Partial<Record<ErrorCode, number>>,
    maxInputMs: 0,
    maxInputBytes: 0,
    maxInputIndex: 0,
    over10ms: 0,
    over100ms: 0,
    maxWorkRatio: 0,
  };
  const every = options.every ?? 100_000;
  fc.assert(
    fc.property(fuzzInputArb, (input) => {
      const t0 = performance.now();
      const out = decodeInput(input);
      const ms = performance.now() - t0;
      const work = (out.results + out.resultBytes) / (out.inputBytes + 64);
      if (out.recovered !== out.valid)
        throw new Error(`lost ${out.valid - out.recovered} of ${out.valid} valid units`);
      if (work > MAX_WORK_RATIO) throw new Error(`work ratio ${work.toFixed(2)} over ${MAX_WORK_RATIO}`);
      totals.inputs++;
      totals.bytes += out.inputBytes;
      totals.validHidden += out.valid;
      totals.recovered += out.recovered;
      totals.results += out.results;
      for (const [code, n] of Object.entries(out.errors) as [ErrorCode, number][])
        totals.errors[code] = (totals.errors[code] ?? 0) + n;
      if (ms > totals.maxInputMs) {
        totals.maxInputMs = ms;
        totals.maxInputBytes = out.inputBytes;
        totals.maxInputIndex = totals.inputs;
      }
      if (ms > 10) totals.over10ms++;
      if (ms > 100) totals.over100ms++;
      totals.maxWorkRatio = Math.max(totals.maxWorkRatio, work);
      if (options.onProgress && totals.inputs % every === 0) options.onProgress(totals.inputs);
    }),
    { seed: options.seed, numRuns: options.runs, endOnFailure: true },
  );
  return { seed: options.seed, ...totals, lost: totals.validHidden - totals.recovered };
}
