import { localMonthStart, localTime } from "./clock.ts";
import type { Prng } from "./prng.ts";
import { Register } from "./register.ts";

/** Media a simulated M-Bus sub-meter can measure. */
export type MbusKind = "gas" | "water" | "heat";

/** One simulated M-Bus sub-meter. */
export interface MbusDevice {
  readonly channel: 1 | 2 | 3 | 4;
  readonly kind: MbusKind;
}

/** Mean intervals (simulated ms) of rare events; 0 or absent disables one. */
export interface EventRates {
  readonly powerFailureMs?: number;
  readonly sagSwellMs?: number;
  readonly textMessageMs?: number;
  readonly applianceScale?: number;
}

/** How the household and its meter behave. */
export interface ModelOptions {
  readonly startTime: number;
  readonly phases: 1 | 3;
  /** Peak solar production in W; 0 for none. */
  readonly solarPeakW: number;
  readonly mbus: readonly MbusDevice[];
  /** Tariff indicator value of the night tariff (NL 1, BE 2). */
  readonly nightTariff: 1 | 2;
  /** How often sub-meters capture their reading. */
  readonly mbusCaptureMs: number;
  readonly events: EventRates;
}

/** Per-medium presets: M-Bus device type (EN 13757-3), unit, and a register in its smallest unit. */
export const MBUS_MEDIA = {
  gas: { deviceType: 3, unit: "m3", unitsPerValue: 1000, prefix: "G" }, // litres → m3
  water: { deviceType: 7, unit: "m3", unitsPerValue: 1000, prefix: "W" }, // litres → m3
  heat: { deviceType: 4, unit: "GJ", unitsPerValue: 1000, prefix: "H" }, // MJ → GJ
} as const satisfies Readonly<
  Record<MbusKind, { deviceType: number; unit: string; unitsPerValue: number; prefix: string }>
>;

/** Household appliances: power, how long they run, mean starts per day, preferred hours. */
const APPLIANCES = [
  { name: "kettle", watts: 2000, minutes: 3, perDay: 4, from: 6, to: 23 },
  { name: "washing machine", watts: 1900, minutes: 90, perDay: 0.5, from: 8, to: 21 },
  { name: "dishwasher", watts: 1800, minutes: 60, perDay: 0.7, from: 12, to: 23 },
  { name: "oven", watts: 2400, minutes: 45, perDay: 0.4, from: 17, to: 20 },
  { name: "television", watts: 120, minutes: 180, perDay: 1, from: 18, to: 23 },
  { name: "fridge", watts: 110, minutes: 20, perDay: 24, from: 0, to: 24 },
  { name: "microwave", watts: 1100, minutes: 4, perDay: 2, from: 7, to: 22 },
] as const;

const DAY_MS = 86_400_000;
const QUARTER_MS = 900_000;
// A power failure of 3 minutes or more is "long" (DSMR 5.0.2 §6.12, 0-0:96.7.9) and enters the log.
const LONG_FAILURE_S = 180;
// DSMR keeps the last 10 long power failures in 1-0:99.97.0.
const FAILURE_LOG_SIZE = 10;
// e-MUCS 0-0:98.1.0 holds the last 13 monthly peaks.
const PEAK_HISTORY_SIZE = 13;
const TEXT_MESSAGES = [
  "Storing gepland op 12 maart tussen 09:00 en 12:00",
  "Meterstanden worden maandelijks uitgelezen",
  "Welkom bij uw slimme meter",
];

interface Running {
  readonly watts: number;
  readonly phase: number;
  readonly until: number;
}

/** A captured sub-meter reading. */
export interface Capture {
  /** Value in the medium's unit (m3, GJ), exact to 3 decimals. */
  readonly value: number;
  readonly at: number;
}

/** The state of one sub-meter. */
export interface MbusState {
  readonly device: MbusDevice;
  id: string;
  readonly register: Register;
  capture: Capture;
}

/** One entry of the peak history. */
export interface PeakRecord {
  readonly month: number;
  readonly at: number;
  readonly watts: number;
}

/**
 * The household and its meters. `step()` advances simulated time; the public fields are what a telegram
 * reports at that moment. Power is in whole watts, energies in whole Wh (varh), so registers are exact.
 */
export class MeterModel {
  readonly #rng: Prng;
  readonly #o: ModelOptions;
  readonly #running: Running[] = [];
  readonly #baseW: number;
  #cloud = 1;

  t: number;
  /** Imported energy per tariff (index 0 = tariff 1), Wh. */
  readonly delivered: [Register, Register];
  /** Exported energy per tariff, Wh. */
  readonly produced: [Register, Register];
  /** Reactive energy imported / exported, varh. */
  readonly reactiveImported: Register;
  readonly reactiveExported: Register;
  tariff: 1 | 2 = 1;
  /** Signed net power per phase (W): positive = import. */
  phaseW: number[] = [0, 0, 0];
  /** Voltage per phase, V (0.1 V resolution). */
  voltage: number[] = [230, 230, 230];
  powerFailures = 0;
  longPowerFailures = 0;
  failureLog: { at: number; durationS: number }[] = [];
  sags = [0, 0, 0];
  swells = [0, 0, 0];
  text = "";
  #textUntil = 0;
  readonly mbus: MbusState[];
  readonly equipmentId: string;
  // e-MUCS capacity tariff.
  #quarterEnergy = 0; // W·ms imported since the current quarter started
  #quarterStart: number;
  /** Average import demand of the quarter-hour so far, W. */
  averageDemandW = 0;
  /** Quarter-hour averages completed by the last step (W), for consistency checks. */
  completedQuarters: { end: number; watts: number }[] = [];
  monthPeak: { at: number; watts: number };
  peakHistory: PeakRecord[] = [];
  #month: number;

  constructor(options: ModelOptions, rng: Prng) {
    this.#o = options;
    this.#rng = rng;
    this.t = options.startTime;
    this.#baseW = rng.int(60, 180);
    this.delivered = [
      new Register(rng.int(1_000_000, 9_000_000)),
      new Register(rng.int(1_000_000, 9_000_000)),
    ];
    this.produced =
      options.solarPeakW > 0
        ? [new Register(rng.int(100_000, 3_000_000)), new Register(rng.int(100_000, 3_000_000))]
        : [new Register(0), new Register(0)];
    this.reactiveImported = new Register(rng.int(100_000, 900_000));
    this.reactiveExported = new Register(rng.int(10_000, 90_000));
    this.equipmentId = `E00${rng.digits(14)}`;
    this.powerFailures = rng.int(0, 12);
    this.longPowerFailures = rng.int(0, 4);
    for (let i = 0; i < this.longPowerFailures && i < FAILURE_LOG_SIZE; i++) {
      this.failureLog.push({
        at: options.startTime - rng.int(2, 700) * DAY_MS,
        durationS: rng.int(LONG_FAILURE_S, 20_000),
      });
    }
    this.failureLog.sort((a, b) => a.at - b.at);
    this.sags = [rng.int(0, 5), rng.int(0, 5), rng.int(0, 5)];
    this.swells = [rng.int(0, 3), rng.int(0, 3), rng.int(0, 3)];
    this.mbus = options.mbus.map((device) => {
      const media = MBUS_MEDIA[device.kind];
      const register = new Register(rng.int(100_000, 9_000_000));
      return {
        device,
        id: `${media.prefix}00${rng.digits(14)}`,
        register,
        capture: { value: register.units / media.unitsPerValue, at: this.#captureTime(options.startTime) },
      };
    });
    this.#quarterStart = Math.floor(options.startTime / QUARTER_MS) * QUARTER_MS;
    const lt = localTime(options.startTime);
    this.#month = lt.year * 12 + lt.month;
    this.monthPeak = { at: localMonthStart(lt.year, lt.month), watts: 0 };
    // A few months of history so 0-0:98.1.0 is populated from the first telegram.
    for (let k = 0; k < 3; k++) {
      const monthEnd = localMonthStart(lt.year, lt.month - k);
      const monthBegin = localMonthStart(lt.year, lt.month - k - 1);
      const at = Math.floor(rng.range(monthBegin, monthEnd) / QUARTER_MS) * QUARTER_MS;
      this.peakHistory.push({ month: monthEnd, at, watts: rng.int(2500, 7000) });
    }
    this.#update(0);
  }

  /** Actual import (1-0:1.7.0) and export (1-0:2.7.0), W. */
  get netW(): number {
    return this.phaseW.reduce((a, b) => a + b, 0);
  }

  /** Advances simulated time by `dtMs` and updates every quantity. */
  step(dtMs: number): void {
    this.t += dtMs;
    this.#update(dtMs);
  }

  #captureTime(t: number): number {
    return Math.floor(t / this.#o.mbusCaptureMs) * this.#o.mbusCaptureMs;
  }

  #update(dtMs: number): void {
    const rng = this.#rng;
    const lt = localTime(this.t);
    const phases = this.#o.phases;

    // ---- Tariff: night 23:00-07:00 (NL) / 22:00-06:00 (BE) and all weekend ----
    const belgian = this.#o.nightTariff === 2;
    const nightHours = belgian ? lt.hour >= 22 || lt.hour < 6 : lt.hour >= 23 || lt.hour < 7;
    const weekend = lt.weekday === 0 || lt.weekday === 6;
    const night = nightHours || weekend;
    this.tariff = night ? this.#o.nightTariff : this.#o.nightTariff === 1 ? 2 : 1;

    // ---- Load: base, appliances ----
    const scale = this.#o.events.applianceScale ?? 1;
    for (let i = this.#running.length - 1; i >= 0; i--) {
      if ((this.#running[i] as Running).until <= this.t) this.#running.splice(i, 1);
    }
    for (const a of APPLIANCES) {
      const inHours = lt.hour >= a.from && lt.hour < a.to;
      if (!inHours || dtMs === 0) continue;
      const perHourInWindow = (a.perDay * scale) / (a.to - a.from);
      if (rng.happens(dtMs, 3_600_000 / perHourInWindow)) {
        this.#running.push({
          watts: a.watts,
          phase: rng.int(0, phases - 1),
          until: this.t + a.minutes * 60_000,
        });
      }
    }
    const load = [0, 0, 0];
    for (let p = 0; p < phases; p++) load[p] = this.#baseW / phases + Math.abs(rng.normal(8));
    for (const r of this.#running) load[r.phase] = (load[r.phase] ?? 0) + r.watts;

    // ---- Solar: a sine between 06:00 and 20:00 local, scaled by season and a slowly drifting cloud cover ----
    let solar = 0;
    if (this.#o.solarPeakW > 0) {
      this.#cloud = Math.min(1, Math.max(0.2, this.#cloud + rng.normal(0.05)));
      const daylight = Math.sin((Math.PI * (lt.hour - 6)) / 14);
      const season = 0.55 + 0.45 * Math.cos(((lt.month - 6.5) * Math.PI) / 6);
      solar = Math.max(0, daylight) * season * this.#cloud * this.#o.solarPeakW;
    }
    this.phaseW = [0, 0, 0];
    for (let p = 0; p < phases; p++) this.phaseW[p] = Math.round((load[p] ?? 0) - solar / phases);

    // ---- Voltage: 230 V ± noise, dropping with import and rising with export ----
    for (let p = 0; p < 3; p++) {
      const v = 230 + rng.normal(1.5) - (this.phaseW[p] ?? 0) * 0.0005;
      this.voltage[p] = p < phases ? Math.round(v * 10) / 10 : 0;
    }

    // ---- Registers ----
    const t = this.tariff - 1;
    const net = this.netW;
    (this.delivered[t] as Register).add(Math.max(0, net), dtMs);
    (this.produced[t] as Register).add(Math.max(0, -net), dtMs);
    this.reactiveImported.add(Math.max(0, net) * 0.3, dtMs);
    this.reactiveExported.add(Math.max(0, -net) * 0.05, dtMs);

    // ---- e-MUCS quarter-hour average demand and monthly peak ----
    this.completedQuarters = [];
    const quarterNow = Math.floor(this.t / QUARTER_MS) * QUARTER_MS;
    if (quarterNow > this.#quarterStart) {
      // The quarter that just ended: what was imported, averaged over its length.
      const span = Math.max(QUARTER_MS, quarterNow - this.#quarterStart);
      const energy = this.#quarterEnergy + Math.max(0, net) * Math.max(0, dtMs - (this.t - quarterNow));
      const watts = Math.floor(energy / span);
      this.completedQuarters.push({ end: quarterNow, watts });
      this.#rollMonth(quarterNow - 1);
      if (watts > this.monthPeak.watts) this.monthPeak = { at: quarterNow, watts };
      this.#rollMonth(this.t);
      this.#quarterStart = quarterNow;
      this.#quarterEnergy = Math.max(0, net) * (this.t - quarterNow);
    } else {
      this.#quarterEnergy += Math.max(0, net) * dtMs;
    }
    this.averageDemandW = Math.floor(this.#quarterEnergy / Math.max(1, this.t - this.#quarterStart));
    this.#rollMonth(this.t);

    // ---- Sub-meters ----
    const winter = 0.5 + 0.5 * Math.cos(((lt.month - 1) * Math.PI) / 6);
    const morningOrEvening = (lt.hour >= 6 && lt.hour < 9) || (lt.hour >= 17 && lt.hour < 23);
    for (const m of this.mbus) {
      const rate =
        m.device.kind === "gas"
          ? winter * (morningOrEvening ? 260 : 120) + (rng.chance(0.02) ? 900 : 0) // litres per hour
          : m.device.kind === "water"
            ? morningOrEvening && rng.chance(0.1)
              ? 480
              : 5 // litres per hour
            : winter * 12 + 1; // MJ per hour
      m.register.add(rate * (1 + rng.normal(0.1)), dtMs);
      const at = this.#captureTime(this.t);
      if (at > m.capture.at)
        m.capture = { value: m.register.units / MBUS_MEDIA[m.device.kind].unitsPerValue, at };
    }

    // ---- Rare events ----
    const ev = this.#o.events;
    if (dtMs > 0 && rng.happens(dtMs, ev.powerFailureMs ?? 30 * DAY_MS)) {
      this.powerFailures++;
      const durationS = rng.chance(0.3) ? rng.int(LONG_FAILURE_S, 7200) : rng.int(1, LONG_FAILURE_S - 1);
      if (durationS >= LONG_FAILURE_S) {
        this.longPowerFailures++;
        this.failureLog.push({ at: Math.floor(this.t / 1000) * 1000, durationS });
        if (this.failureLog.length > FAILURE_LOG_SIZE) this.failureLog.shift();
      }
    }
    if (dtMs > 0 && rng.happens(dtMs, ev.sagSwellMs ?? 3 * DAY_MS)) {
      const p = rng.int(0, phases - 1);
      if (rng.chance(0.6)) this.sags[p] = (this.sags[p] ?? 0) + 1;
      else this.swells[p] = (this.swells[p] ?? 0) + 1;
    }
    if (this.text !== "" && this.t >= this.#textUntil) this.text = "";
    if (dtMs > 0 && rng.happens(dtMs, ev.textMessageMs ?? 7 * DAY_MS)) {
      this.text = TEXT_MESSAGES[rng.int(0, TEXT_MESSAGES.length - 1)] as string;
      this.#textUntil = this.t + 3_600_000;
    }
  }

  /** At a month boundary the month's peak enters the history and a new month starts. */
  #rollMonth(at: number): void {
    const lt = localTime(at);
    const month = lt.year * 12 + lt.month;
    if (month <= this.#month) return;
    const start = localMonthStart(lt.year, lt.month);
    this.peakHistory.unshift({ month: start, at: this.monthPeak.at, watts: this.monthPeak.watts });
    if (this.peakHistory.length > PEAK_HISTORY_SIZE) this.peakHistory.pop();
    this.monthPeak = { at: start, watts: 0 };
    this.#month = month;
  }

  /** Replaces the sub-meter on a channel: a new identifier and a register starting near zero. */
  swapMbus(channel: number, rng: Prng): void {
    const m = this.mbus.find((x) => x.device.channel === channel);
    if (!m) return;
    m.id = `${MBUS_MEDIA[m.device.kind].prefix}00${rng.digits(14)}`;
    m.register.reset(rng.int(0, 50));
    m.capture = {
      value: m.register.units / MBUS_MEDIA[m.device.kind].unitsPerValue,
      at: this.#captureTime(this.t),
    };
  }
}
