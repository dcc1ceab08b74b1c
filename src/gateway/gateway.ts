import { EventEmitter } from "node:events";
import type { VersionName } from "../dsmr/index.ts";
import {
  type Clock,
  type ErrorCode,
  type Logger,
  silentLogger,
  systemClock,
  type Timer,
} from "../shared/index.ts";
import type { Source } from "../transport/index.ts";
import { type Decoded, type DecoderOptions, TelegramDecoder } from "./decode.ts";
import { aesGcmInUse } from "./native-gcm.ts";
import { DEFAULT_RECENT_TELEGRAMS, RecentTelegrams } from "./recent.ts";
import { EntityStore, EVERY_TELEGRAM, type PolicyFor, type Published } from "./store.ts";
import type {
  Counters,
  DiagnosticTelegram,
  EntityInfo,
  EntityState,
  GatewayEvents,
  GatewayInfo,
  GatewayView,
  LinkState,
  SourceInfo,
} from "./types.ts";

/** What the counters show of a source's raw fan-out (transport's RawFanout has these). */
export interface FanoutStats {
  /** Readers connected now. */
  readonly clients: number;
  /** Readers cut off for falling behind. */
  readonly cutOff: number;
}

/** One source of a gateway and how to read it. */
export interface GatewaySource {
  /** Stable id (`source1`, `home`): part of log lines and API answers. */
  readonly id: string;
  readonly source: Source;
  readonly decoder?: DecoderOptions;
  /** Seconds without a valid telegram before the source's entities go unavailable (default 120). */
  readonly receivedTimeoutS?: number;
  readonly policyFor?: PolicyFor;
  /** The source's raw fan-out, when it has one: its readers are counted in GetInfo. */
  readonly fanout?: FanoutStats;
}

/** Options of a gateway. */
export interface GatewayOptions {
  readonly name: string;
  /** The software version reported to clients. */
  readonly version: string;
  readonly sources: readonly GatewaySource[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * Silence after which a partial frame is given up (counted as TRUNCATED): meters write a telegram in
   * one burst, so a frame still open this long after its last byte will never be completed.
   */
  readonly flushAfterMs?: number;
  /**
   * Telegrams (delivered or dropped) kept per source for diagnostics. Default: 10, fewer with more than
   * 100 sources (RECENT_TELEGRAMS_IN_ALL shared out, at least 1 each).
   */
  readonly recentTelegrams?: number;
}

/** The seed binding's default receivedTimeout. */
export const DEFAULT_RECEIVED_TIMEOUT_S = 120;
const DEFAULT_FLUSH_AFTER_MS = 5_000;
/**
 * Telegrams kept for diagnostics over all sources by default: a bundle of 10 per meter for thousands of
 * meters helps nobody, yet held 46 MB at 5,000 meters (every one copied, and kept long enough for the
 * GC to move it to the old generation).
 */
export const RECENT_TELEGRAMS_IN_ALL = 1_000;

/** Telegrams each source keeps for diagnostics, by default. */
export function recentTelegramsPerSource(sources: number): number {
  return Math.max(1, Math.min(DEFAULT_RECENT_TELEGRAMS, Math.floor(RECENT_TELEGRAMS_IN_ALL / sources)));
}

interface MutableCounters {
  telegramsOk: number;
  telegramsDropped: Partial<Record<ErrorCode, number>>;
  bytes: number;
  reconnects: number;
  anomalies: number;
}

/** The gateway's totals: the per-source counters plus those read from the sources. */
interface MutableTotals extends MutableCounters {
  skippedBytes: number;
  openFailures: number;
  fanoutReaders: number;
  fanoutCutOff: number;
}

/** Per-source runtime state. */
class SourceRuntime {
  readonly decoder: TelegramDecoder;
  readonly counters: MutableCounters = {
    telegramsOk: 0,
    telegramsDropped: {},
    bytes: 0,
    reconnects: 0,
    anomalies: 0,
  };
  link: LinkState = "connecting";
  version: VersionName | null = null;
  encrypted = false;
  /**
   * When the last valid telegram came (NaN: none yet). A number field, never null: V8 then keeps it as a
   * double in place, where a field that also holds null gets a new heap number per telegram, which
   * lives until the meter's next one (promoted at thousands of meters).
   */
  lastTelegramAtMs = Number.NaN;
  opened = 0;
  timeoutTimer: Timer | null = null;
  /** Since when the receivedTimeout runs: the start, then each valid telegram. */
  awaitedSinceMs = 0;
  flushTimer: Timer | null = null;
  lastDataAtMs = 0;
  /** Removes the gateway's listeners from the source. */
  detach: () => void = () => {};
  readonly recent: RecentTelegrams;

  constructor(
    readonly config: GatewaySource,
    readonly log: Logger,
    recentTelegrams: number,
  ) {
    this.decoder = new TelegramDecoder(config.decoder ?? {});
    this.recent = new RecentTelegrams(recentTelegrams);
  }
}

/**
 * The gateway: reads every source, decodes telegrams, keeps the entity store, tracks link health
 * (receivedTimeout) and counters, and emits typed events for the API adapters.
 */
export class Gateway extends EventEmitter<GatewayEvents> implements GatewayView {
  readonly #options: GatewayOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #store = new EntityStore();
  readonly #sources: SourceRuntime[];
  readonly #startedAtMs: number;
  #running = false;
  #clients = 0;
  readonly #flushAfterMs: number;
  #coalesced = 0;

  constructor(options: GatewayOptions) {
    super();
    // Adapters add a listener per client stream; hundreds are normal, not a leak.
    this.setMaxListeners(0);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#startedAtMs = this.#clock.now();
    this.#flushAfterMs = options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS;
    const ids = new Set<string>();
    const recent = options.recentTelegrams ?? recentTelegramsPerSource(options.sources.length);
    this.#sources = options.sources.map((s) => {
      if (ids.has(s.id)) throw new Error(`duplicate source id ${s.id}`);
      ids.add(s.id);
      return new SourceRuntime(s, this.#log.child(s.id), recent);
    });
  }

  /** Starts every source and the receivedTimeout watch; idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const rt of this.#sources) {
      const src = rt.config.source;
      const onData = (chunk: Buffer) => this.#onData(rt, chunk);
      const onOpen = () => this.#onOpen(rt);
      const onClose = (error: Error | null) => this.#onClose(rt, error);
      const onEnd = () => this.#publishDecoded(rt, rt.decoder.flush());
      const onWarning = (error: Error) => rt.log.warn(error.message);
      src.on("data", onData).on("open", onOpen).on("close", onClose).on("end", onEnd);
      src.on("warning", onWarning);
      rt.detach = () => {
        src.off("data", onData).off("open", onOpen).off("close", onClose).off("end", onEnd);
        src.off("warning", onWarning);
      };
      this.#armTimeout(rt);
      rt.log.info(`reading ${rt.config.source.description}`);
      rt.config.source.start();
    }
  }

  /** Stops every source and clears every timer and listener; idempotent. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await Promise.all(
      this.#sources.map(async (rt) => {
        for (const t of [rt.timeoutTimer, rt.flushTimer]) if (t) this.#clock.clearTimeout(t);
        rt.timeoutTimer = null;
        rt.flushTimer = null;
        rt.detach();
        rt.detach = () => {};
        await rt.config.source.stop();
      }),
    );
  }

  /** @inheritdoc */
  info(sourceId?: string): GatewayInfo {
    const runtimes =
      sourceId === undefined ? this.#sources : this.#sources.filter((rt) => rt.config.id === sourceId);
    const sources = runtimes.map((rt) => this.#sourceInfo(rt));
    const total: MutableTotals = {
      telegramsOk: 0,
      telegramsDropped: {},
      bytes: 0,
      skippedBytes: 0,
      reconnects: 0,
      openFailures: 0,
      fanoutReaders: 0,
      fanoutCutOff: 0,
      anomalies: 0,
    };
    for (const s of sources) {
      total.openFailures += s.counters.openFailures;
      total.fanoutReaders += s.counters.fanoutReaders;
      total.fanoutCutOff += s.counters.fanoutCutOff;
      total.telegramsOk += s.counters.telegramsOk;
      total.bytes += s.counters.bytes;
      total.skippedBytes += s.counters.skippedBytes;
      total.reconnects += s.counters.reconnects;
      total.anomalies += s.counters.anomalies;
      for (const [code, n] of Object.entries(s.counters.telegramsDropped) as [ErrorCode, number][])
        total.telegramsDropped[code] = (total.telegramsDropped[code] ?? 0) + n;
    }
    return {
      name: this.#options.name,
      version: this.#options.version,
      startedAtMs: this.#startedAtMs,
      sources,
      counters: { ...total, coalesced: this.#coalesced, clients: this.#clients },
    };
  }

  /** @inheritdoc */
  entities(sourceId?: string): readonly EntityInfo[] {
    return this.#store.entities(sourceId);
  }

  /** @inheritdoc */
  states(sourceId?: string): readonly EntityState[] {
    return this.#store.states(sourceId);
  }

  /** @inheritdoc */
  entity(id: string): EntityInfo | undefined {
    return this.#store.entity(id);
  }

  /** @inheritdoc */
  state(id: string): EntityState | undefined {
    return this.#store.state(id);
  }

  /** @inheritdoc */
  clientConnected(): void {
    this.#clients++;
  }

  /** @inheritdoc */
  clientDisconnected(): void {
    this.#clients = Math.max(0, this.#clients - 1);
  }

  /** @inheritdoc */
  countCoalesced(n: number): void {
    this.#coalesced += n;
  }

  /** The last telegrams of every source, delivered or dropped, identifiers masked (for diagnostics). */
  recentTelegrams(): DiagnosticTelegram[] {
    return this.#sources.flatMap((rt) => rt.recent.list(rt.config.id));
  }

  #sourceInfo(rt: SourceRuntime): SourceInfo {
    const counters: Counters = {
      ...rt.counters,
      telegramsDropped: { ...rt.counters.telegramsDropped },
      skippedBytes: rt.decoder.skippedBytes,
      openFailures: rt.config.source.openFailures ?? 0,
      fanoutReaders: rt.config.fanout?.clients ?? 0,
      fanoutCutOff: rt.config.fanout?.cutOff ?? 0,
      coalesced: 0,
      clients: 0,
    };
    return {
      id: rt.config.id,
      description: rt.config.source.description,
      link: rt.link,
      version: rt.version,
      encrypted: rt.encrypted,
      meters: this.#store.meters(rt.config.id),
      counters,
      lastTelegramAtMs: Number.isNaN(rt.lastTelegramAtMs) ? null : rt.lastTelegramAtMs,
    };
  }

  #onData(rt: SourceRuntime, chunk: Buffer): void {
    rt.counters.bytes += chunk.length;
    rt.lastDataAtMs = this.#clock.now();
    this.#publishDecoded(rt, rt.decoder.push(chunk));
    // One timer per silence, not per chunk: a serial port delivers a telegram in many small chunks.
    if (rt.decoder.isPending && !rt.flushTimer) this.#armFlush(rt, this.#flushAfterMs);
  }

  /** Gives up a partial frame once the source has been silent for flushAfterMs since its last byte. */
  #armFlush(rt: SourceRuntime, ms: number): void {
    rt.flushTimer = this.#clock.setTimeout(() => {
      rt.flushTimer = null;
      if (!rt.decoder.isPending) return;
      const silentMs = this.#clock.now() - rt.lastDataAtMs;
      if (silentMs < this.#flushAfterMs) this.#armFlush(rt, this.#flushAfterMs - silentMs);
      else this.#publishDecoded(rt, rt.decoder.flush());
    }, ms);
  }

  #onOpen(rt: SourceRuntime): void {
    if (rt.opened > 0) rt.counters.reconnects++;
    rt.opened++;
    if (rt.link === "disconnected")
      this.#setLink(rt, Number.isNaN(rt.lastTelegramAtMs) ? "connecting" : "stale");
  }

  #onClose(rt: SourceRuntime, error: Error | null): void {
    // A frame cut by the disconnect will never complete: count it now.
    this.#publishDecoded(rt, rt.decoder.flush());
    this.#setLink(rt, "disconnected");
    if (error) rt.log.warn(error.message);
  }

  #publishDecoded(rt: SourceRuntime, decoded: readonly Decoded[]): void {
    for (const d of decoded) {
      const outcome = !d.ok ? d.error.code : d.encryption?.counter === "replay" ? "REPLAYED" : "OK";
      rt.recent.add(this.#clock.now(), outcome, d.raw, d.plaintext ?? null);
      if (!d.ok) {
        this.#drop(rt, d.error.code, d.error.message);
        continue;
      }
      if (d.encryption?.counter === "replay") {
        this.#drop(
          rt,
          "REPLAYED",
          `frame counter ${d.encryption.frameCounter} is not newer than the last one`,
        );
        continue;
      }
      const now = this.#clock.now();
      rt.counters.telegramsOk++;
      rt.lastTelegramAtMs = now;
      rt.encrypted = d.encryption !== null;
      if (d.telegram.version !== rt.version) {
        rt.version = d.telegram.version;
        rt.log.info(
          `protocol version ${rt.version ?? "unknown (generic DSMR)"}${rt.encrypted ? `, encrypted (AES-GCM: ${aesGcmInUse()})` : ""}`,
        );
      }
      if (rt.link !== "ok") {
        if (rt.link === "stale") rt.log.info("telegrams are arriving again");
        this.#setLink(rt, "ok");
      }
      this.#armTimeout(rt);
      const result = this.#store.ingest(
        rt.config.id,
        d.telegram,
        now,
        rt.config.policyFor ?? (() => EVERY_TELEGRAM),
      );
      rt.counters.anomalies += result.anomalies.length;
      for (const id of result.anomalies)
        rt.log.warn(`register ${id} went backwards; the higher value is held`);
      for (const id of result.resets) rt.log.warn(`register ${id} was reset (lower value confirmed)`);
      for (const { from, to } of result.swaps) rt.log.warn(`meter ${from.id} replaced by ${to.id}`);
      if (result.newEntities.length > 0) this.emit("entities", result.newEntities);
      this.emit("telegram", {
        sourceId: rt.config.id,
        receivedAtMs: now,
        raw: d.raw,
        telegram: d.telegram,
        encrypted: d.encryption !== null,
      });
      this.#publish(result);
    }
  }

  #publish({ states, stateEntities }: Published): void {
    for (let i = 0; i < states.length; i++)
      this.emit("state", states[i] as EntityState, stateEntities[i] as EntityInfo);
  }

  #drop(rt: SourceRuntime, code: ErrorCode, message: string): void {
    rt.counters.telegramsDropped[code] = (rt.counters.telegramsDropped[code] ?? 0) + 1;
    rt.log.warn(`telegram dropped (${code})`);
    rt.log.debug(`telegram dropped: ${message}`);
  }

  /**
   * Restarts the receivedTimeout. One timer per quiet period, not per telegram: a telegram only moves
   * the deadline, and the timer, when it fires early, waits for the rest (5,000 meters at 1 Hz would
   * otherwise clear and set 5,000 timers a second).
   */
  #armTimeout(rt: SourceRuntime): void {
    rt.awaitedSinceMs = this.#clock.now();
    if (!rt.timeoutTimer)
      this.#waitForTimeout(rt, (rt.config.receivedTimeoutS ?? DEFAULT_RECEIVED_TIMEOUT_S) * 1000);
  }

  #waitForTimeout(rt: SourceRuntime, ms: number): void {
    rt.timeoutTimer = this.#clock.setTimeout(() => {
      rt.timeoutTimer = null;
      const seconds = rt.config.receivedTimeoutS ?? DEFAULT_RECEIVED_TIMEOUT_S;
      const left = rt.awaitedSinceMs + seconds * 1000 - this.#clock.now();
      if (left > 0) {
        this.#waitForTimeout(rt, left);
        return;
      }
      if (rt.link !== "disconnected") this.#setLink(rt, "stale");
      rt.log.warn(`no valid telegram for ${seconds} s: values marked unavailable`);
      this.#publish(this.#store.markUnavailable(rt.config.id, this.#clock.now()));
    }, ms);
  }

  #setLink(rt: SourceRuntime, link: LinkState): void {
    if (rt.link === link) return;
    rt.link = link;
    this.emit("link", rt.config.id, link);
  }
}
