/** A seeded pseudo-random source (mulberry32): same seed, same sequence, on every platform. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    // Mix the seed once so nearby seeds (1, 2, 3) start far apart.
    this.#state = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 0x6d2b79f5;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** Roughly normal (Irwin-Hall of 4), mean 0, standard deviation `sd`. */
  normal(sd: number): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * sd * Math.sqrt(3);
  }

  /** Whether an event with the given mean interval happens within `dtMs` (Poisson process). */
  happens(dtMs: number, meanIntervalMs: number): boolean {
    if (!(meanIntervalMs > 0) || !Number.isFinite(meanIntervalMs)) return false;
    return this.next() < 1 - Math.exp(-dtMs / meanIntervalMs);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** A string of decimal digits. */
  digits(count: number): string {
    let s = "";
    for (let i = 0; i < count; i++) s += String(this.int(0, 9));
    return s;
  }
}
