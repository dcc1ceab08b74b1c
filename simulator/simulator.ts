import { setTimeout as sleep } from "node:timers/promises";
import {
  type EncodeObject,
  encodeTelegram,
  GLO_CIPHERING_TAG,
  OBJECTS,
  type ObjectName,
  VERSIONS,
  type VersionName,
  writeConvention,
} from "../src/dsmr/index.ts";
import { encryptFrame } from "../src/smarty/index.ts";
import { type FaultKind, type FaultRates, InjectionLog } from "./faults.ts";
import { type EventRates, type MbusDevice, MeterModel } from "./model.ts";
import { VALUE_SOURCES } from "./objects.ts";
import { Prng } from "./prng.ts";

/** Everything that shapes a simulation; only `version` is required. */
export interface SimulatorOptions {
  readonly version: VersionName;
  readonly seed?: number;
  /** Telegrams to produce; unbounded when absent. */
  readonly count?: number;
  /** Wall-clock pause between telegrams (ms); default the version's interval, 0 = as fast as possible. */
  readonly intervalMs?: number;
  /** Simulated time of the first telegram (epoch ms); default 2024-01-15T12:00:00Z. */
  readonly startTime?: number;
  /** Simulated time per telegram = the version's interval × speed. */
  readonly speed?: number;
  /** AES-128 key: encrypt every telegram (Smarty-style frames). */
  readonly key?: Uint8Array;
  /** Authentication key; Smarty's published default when absent. */
  readonly aad?: Uint8Array;
  readonly phases?: 1 | 3;
  /** Peak solar production in W (0 = no solar). */
  readonly solarPeakW?: number;
  /** Sub-meters; default a gas meter on channel 1 where the version has sub-meters. */
  readonly mbus?: readonly MbusDevice[];
  readonly events?: EventRates;
  readonly faults?: FaultRates;
  /** Pause injected by a `stall` fault (ms); longer than the gateway's 120 s receivedTimeout by default. */
  readonly stallMs?: number;
  /** Identification line; default the version's example header. */
  readonly header?: string;
}

/** One unit of output: bytes to write, a pause, or a cable event the sink acts on. */
export type SimEvent =
  | { readonly kind: "data"; readonly bytes: Buffer; readonly telegram: number }
  | { readonly kind: "pause"; readonly ms: number; readonly reason: "interval" | "stall" | "unplugged" }
  | { readonly kind: "unplug" }
  | { readonly kind: "replug" };

/** A telegram as the model produced it, before faults touched the wire bytes. */
export interface SimTelegram {
  readonly index: number;
  /** Simulated time (epoch ms). */
  readonly at: number;
  /** What the meter's clock showed (differs from `at` under a clock fault). */
  readonly clock: number;
  readonly objects: readonly EncodeObject[];
  readonly plaintext: Buffer;
  /** Encrypted frame, when encrypting. */
  readonly frame: Buffer | null;
  readonly frameCounter: number | null;
  /** Quarter-hour averages (W) that ended with this step (e-MUCS capacity tariff). */
  readonly completedQuarters: readonly { readonly end: number; readonly watts: number }[];
}

const DEFAULT_START = Date.UTC(2024, 0, 15, 11, 0, 0);
const DEFAULT_STALL_MS = 130_000;
const UNPLUG_MS = 2_000;
const NOISE_EXCLUDED = new Set([0x2f, 0x21, GLO_CIPHERING_TAG]); // '/', '!', 0xDB would start or end frames
const MAX_COUNTER = 0xffff_ffff;

/** Default sub-meters: a gas meter on channel 1 for versions that have one. */
export function defaultMbus(version: VersionName): MbusDevice[] {
  const v = VERSIONS[version];
  const hasGas =
    v.mbusObjects.length > 0 || (v.objects as readonly ObjectName[]).some((n) => OBJECTS[n].meter === "gas");
  return hasGas ? [{ channel: 1, kind: "gas" }] : [];
}

/**
 * A deterministic P1 meter: same options, same bytes. `next()` produces one telegram and the output
 * events for it (faults included); simulated time comes from the model, never from the wall clock.
 */
export class Simulator {
  readonly options: SimulatorOptions;
  readonly model: MeterModel;
  /** What was injected so far. */
  readonly log = new InjectionLog();
  readonly #faultRng: Prng;
  readonly #version: VersionName;
  readonly #stepMs: number;
  readonly #systemTitle: Buffer;
  #frameCounter: number;
  #index = 0;
  #lastGoodFrame: Buffer | null = null;

  constructor(options: SimulatorOptions) {
    this.options = options;
    this.#version = options.version;
    const seed = options.seed ?? 1;
    const rng = new Prng(seed);
    // Faults draw from their own stream so enabling them never changes the household's values.
    this.#faultRng = new Prng(seed ^ 0x5bd1e995);
    const convention = writeConvention(options.version);
    const version = VERSIONS[options.version];
    this.#stepMs = version.intervalMs * (options.speed ?? 1);
    this.model = new MeterModel(
      {
        startTime: options.startTime ?? DEFAULT_START,
        phases: options.phases ?? 3,
        solarPeakW: options.solarPeakW ?? 0,
        mbus: options.mbus ?? defaultMbus(options.version),
        nightTariff: convention.nightTariff,
        mbusCaptureMs: convention.mbusCaptureMs,
        events: options.events ?? {},
      },
      rng,
    );
    // System title: manufacturer "SAG" then five serial bytes (Smarty P1 1.1 §3.1).
    this.#systemTitle = Buffer.concat([Buffer.from("SAG", "latin1"), Buffer.from(rng.digits(10), "hex")]);
    this.#frameCounter = rng.int(1, 1 << 20);
  }

  /** Whether telegrams leave encrypted. */
  get encrypting(): boolean {
    return this.options.key !== undefined;
  }

  /** Hex of the system title used for encrypted frames. */
  get systemTitle(): string {
    return this.#systemTitle.toString("hex").toUpperCase();
  }

  /** Whether `count` telegrams have been produced. */
  get done(): boolean {
    return this.options.count !== undefined && this.#index >= this.options.count;
  }

  #rate(kind: FaultKind): number {
    return this.options.faults?.[kind] ?? 0;
  }

  #fault(kind: FaultKind): boolean {
    return this.#faultRng.chance(this.#rate(kind));
  }

  /** Produces the next telegram and the events that deliver it. */
  next(): { telegram: SimTelegram; events: SimEvent[] } {
    const index = this.#index++;
    if (index > 0) this.model.step(this.#stepMs);
    const events: SimEvent[] = [];
    const log = this.log;
    const crcVersion = VERSIONS[this.#version].crc;

    // ---- Faults that change what the meter reports ----
    let clock = this.model.t;
    if (this.#fault("clockPast")) {
      clock = Date.UTC(1999, 11, 31, 23, 0, 0); // 2000-01-01 00:00 local: a meter whose clock was reset
      log.add({ telegram: index, kind: "clockPast", expect: null });
    } else if (this.#fault("clockFuture")) {
      clock = this.model.t + 10 * 365 * 86_400_000;
      log.add({ telegram: index, kind: "clockFuture", expect: null });
    }
    const swapChannel = this.model.mbus[0]?.device.channel;
    if (swapChannel !== undefined && this.#fault("mbusSwap")) {
      this.model.swapMbus(swapChannel, this.#faultRng);
      log.add({ telegram: index, kind: "mbusSwap", expect: null });
    }

    const objects = this.#objects(clock);
    const plaintext = encodeTelegram(
      this.#version,
      this.options.header ?? VERSIONS[this.#version].exampleHeader,
      objects,
    );
    let frame: Buffer | null = null;
    let frameCounter: number | null = null;
    let wire = plaintext;
    let replay: Buffer | null = null;
    let broken = false; // a unit already broken by one fault: no second one, so each maps to one error
    const key = this.options.key;
    if (key) {
      frameCounter = this.#frameCounter;
      this.#frameCounter = this.#frameCounter >= MAX_COUNTER ? 1 : this.#frameCounter + 1;
      const wrongKey = this.#fault("wrongKey");
      const useKey = wrongKey ? Buffer.from(key).map((b) => b ^ 0xff) : key;
      frame = encryptFrame(plaintext, this.#systemTitle, frameCounter, {
        key: useKey,
        ...(this.options.aad ? { authenticationKey: this.options.aad } : {}),
      });
      wire = frame;
      if (wrongKey) log.add({ telegram: index, kind: "wrongKey", expect: "DECRYPT_FAILED" });
      if (this.#lastGoodFrame && this.#fault("replay")) {
        replay = this.#lastGoodFrame;
        log.add({ telegram: index, kind: "replay", expect: "replay" });
      }
      if (!wrongKey) this.#lastGoodFrame = frame;
      broken = wrongKey;
    }

    // ---- Faults on the wire: at most one that breaks this unit, so each maps to one decoder error ----
    if (!broken && this.#fault("crc")) {
      if (key) {
        wire = Buffer.from(wire);
        const i = 18 + this.#faultRng.int(0, wire.length - 31); // inside the ciphertext
        wire[i] = (wire[i] as number) ^ 0x01;
        log.add({ telegram: index, kind: "crc", expect: "DECRYPT_FAILED" });
      } else if (crcVersion) {
        wire = corruptDigit(wire, this.#faultRng);
        log.add({ telegram: index, kind: "crc", expect: "CRC_MISMATCH" });
      }
    } else if (this.#fault("drop")) {
      if (key) {
        // One byte lost inside the ciphertext: the tag fails, and the framer recovers the next frame.
        const i = this.#faultRng.int(18, wire.length - 1);
        wire = Buffer.concat([wire.subarray(0, i), wire.subarray(i + 1)]);
        log.add({ telegram: index, kind: "drop", expect: "DECRYPT_FAILED" });
      } else {
        wire = dropCloseParen(wire, this.#faultRng);
        log.add({ telegram: index, kind: "drop", expect: crcVersion ? "CRC_MISMATCH" : "MALFORMED_LINE" });
      }
    } else if (this.#fault("truncate")) {
      // Plaintext: cut before the '!'. Encrypted: cut inside the ciphertext, leaving at least 6 bytes
      // out so the framer can recognise the next frame's header inside the cut one.
      const end = key ? wire.length - 6 : wire.lastIndexOf(0x21);
      const from = key ? 18 : Math.floor(end / 4);
      wire = wire.subarray(0, this.#faultRng.int(from, key ? end : Math.floor((end * 3) / 4)));
      log.add({ telegram: index, kind: "truncate", expect: "TRUNCATED" });
    }

    // ---- Delivery ----
    if (index > 0) {
      const pause = this.options.intervalMs ?? VERSIONS[this.#version].intervalMs;
      if (pause > 0) events.push({ kind: "pause", ms: pause, reason: "interval" });
    }
    if (this.#fault("stall")) {
      events.push({ kind: "pause", ms: this.options.stallMs ?? DEFAULT_STALL_MS, reason: "stall" });
      log.add({ telegram: index, kind: "stall", expect: null });
    }
    if (this.#fault("unplug")) {
      events.push(
        { kind: "unplug" },
        { kind: "pause", ms: UNPLUG_MS, reason: "unplugged" },
        { kind: "replug" },
      );
      log.add({ telegram: index, kind: "unplug", expect: null });
    }
    if (this.#fault("garbage")) {
      const noise = makeNoise(this.#faultRng);
      events.push({ kind: "data", bytes: noise, telegram: index });
      log.add({ telegram: index, kind: "garbage", expect: null, bytes: noise.length });
    }
    if (this.#fault("chunk")) {
      for (let i = 0; i < wire.length; ) {
        const n = this.#faultRng.int(1, 8);
        events.push({ kind: "data", bytes: wire.subarray(i, i + n), telegram: index });
        i += n;
      }
      log.add({ telegram: index, kind: "chunk", expect: null });
    } else {
      events.push({ kind: "data", bytes: wire, telegram: index });
    }
    if (replay) events.push({ kind: "data", bytes: replay, telegram: index });

    const telegram: SimTelegram = {
      index,
      at: this.model.t,
      clock,
      objects,
      plaintext,
      frame,
      frameCounter,
      completedQuarters: [...this.model.completedQuarters],
    };
    return { telegram, events };
  }

  /** The objects of the current telegram, in the version's table order, M-Bus channels after. */
  #objects(clock: number): EncodeObject[] {
    const version = VERSIONS[this.#version];
    const phases = this.options.phases ?? 3;
    const out: EncodeObject[] = [];
    const base = { model: this.model, version: this.#version, clock, phases, mbus: undefined };
    for (const name of version.objects as readonly ObjectName[]) {
      const value = VALUE_SOURCES[name]?.(base, name);
      if (value) out.push({ name, value });
    }
    const devices = [...this.model.mbus].sort((a, b) => a.device.channel - b.device.channel);
    for (const m of devices) {
      for (const name of version.mbusObjects as readonly ObjectName[]) {
        const value = VALUE_SOURCES[name]?.({ ...base, mbus: m }, name);
        if (value) out.push({ name, channel: m.device.channel, value });
      }
    }
    return out;
  }
}

function corruptDigit(wire: Buffer, rng: Prng): Buffer {
  const out = Buffer.from(wire);
  const bang = out.lastIndexOf(0x21);
  const digits: number[] = [];
  const bodyStart = out.indexOf(0x0a) + 1;
  for (let i = bodyStart; i < bang; i++)
    if ((out[i] as number) >= 0x30 && (out[i] as number) <= 0x39) digits.push(i);
  const at = digits[rng.int(0, digits.length - 1)] as number;
  // Change one digit to another digit: the line stays well-formed, only the CRC can tell.
  out[at] = 0x30 + (((out[at] as number) - 0x30 + rng.int(1, 9)) % 10);
  return out;
}

function dropCloseParen(wire: Buffer, rng: Prng): Buffer {
  const closes: number[] = [];
  for (let i = 0; i < wire.length; i++) if (wire[i] === 0x29) closes.push(i);
  const at = closes[rng.int(0, closes.length - 1)] as number;
  return Buffer.concat([wire.subarray(0, at), wire.subarray(at + 1)]);
}

function makeNoise(rng: Prng): Buffer {
  const n = rng.int(1, 32);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    let b = rng.chance(0.3) ? 0 : rng.int(1, 255);
    while (NOISE_EXCLUDED.has(b)) b = rng.int(1, 255);
    out[i] = b;
  }
  return out;
}

/** Every event of a simulation, synchronously (for tests: no pauses are waited). */
export function* simulate(
  options: SimulatorOptions,
  simulator = new Simulator(options),
): Generator<SimEvent> {
  while (!simulator.done) yield* simulator.next().events;
}

/** Options for running a simulation in real time. */
export interface RunOptions {
  readonly signal?: AbortSignal;
  /** A simulator to drive (to read its injection log afterwards); one is made from the options otherwise. */
  readonly simulator?: Simulator;
  /** Called for unplug/replug so a sink can drop and restore its link. */
  readonly onCable?: (event: "unplug" | "replug") => void;
}

/**
 * Telegram bytes as an async stream, waiting the pauses in real (wall-clock) time; ends after `count`
 * telegrams or when `signal` aborts.
 */
export async function* createSimulator(
  options: SimulatorOptions,
  run: RunOptions = {},
): AsyncGenerator<Buffer> {
  for (const ev of simulate(options, run.simulator)) {
    if (run.signal?.aborted) return;
    if (ev.kind === "data") yield ev.bytes;
    else if (ev.kind === "pause") {
      try {
        await sleep(ev.ms, undefined, run.signal ? { signal: run.signal } : {});
      } catch {
        return; // aborted while waiting: the stream simply ends
      }
    } else run.onCable?.(ev.kind);
  }
}
