/**
 * An energy or volume register that integrates a rate over time exactly: whole units plus a remainder in
 * rate·ms, all integers, so no float drift however long it runs, and it can never decrease.
 */
export class Register {
  #units: number;
  #remainder = 0;
  readonly #msPerUnitAtUnitRate: number;

  /** `units` start value in the register's smallest unit (Wh, litre, MJ); rates are per hour. */
  constructor(units: number, msPerUnit = 3_600_000) {
    this.#units = Math.floor(units);
    this.#msPerUnitAtUnitRate = msPerUnit;
  }

  /** Whole units counted so far. */
  get units(): number {
    return this.#units;
  }

  /** Adds `rate` (units per hour, rounded to a whole number) over `dtMs`. */
  add(rate: number, dtMs: number): void {
    const r = Math.max(0, Math.round(rate));
    this.#remainder += r * Math.round(dtMs);
    const whole = Math.floor(this.#remainder / this.#msPerUnitAtUnitRate);
    this.#units += whole;
    this.#remainder -= whole * this.#msPerUnitAtUnitRate;
  }

  /** Restarts the count (a replaced meter). */
  reset(units: number): void {
    this.#units = Math.floor(units);
    this.#remainder = 0;
  }
}
