import type { Clock, Timer } from "../../src/shared/index.ts";

/** A clock the test moves by hand; timers fire during `advance`, in due order. Real sockets keep working. */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;

  constructor(startMs = Date.UTC(2024, 0, 15, 12)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = this.#next++;
    this.#timers.push({ at: this.#now + ms, fn, id });
    return id as unknown as Timer;
  }

  clearTimeout(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t.id !== (timer as unknown as number));
  }

  /** Moves time forward, firing every timer that falls due. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }

  /** Timers pending. */
  get pending(): number {
    return this.#timers.length;
  }
}
