import { EventEmitter } from "node:events";
import type { SimEvent, Simulator } from "../../simulator/index.ts";
import { P1Error } from "../../src/shared/index.ts";
import type { Source, SourceEvents } from "../../src/transport/index.ts";
import type { ManualClock } from "../helpers/clock.ts";

/**
 * TEST FIXTURE: a Source the test drives by hand, so a simulation runs synchronously on a manual
 * clock (the real SimulatorSource waits wall-clock pauses). It emits exactly the events a source
 * emits: open on start and replug, close with SOURCE_DISCONNECTED on unplug, data, end.
 */
export class DrivenSource extends EventEmitter<SourceEvents> implements Source {
  readonly description = "simulator:driven";
  #started = false;

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.emit("open");
  }

  async stop(): Promise<void> {
    this.#started = false;
  }

  /** Delivers one simulator event: bytes, a cable event, or a pause spent on the manual clock. */
  deliver(ev: SimEvent, clock: ManualClock): void {
    if (ev.kind === "data") this.emit("data", ev.bytes);
    else if (ev.kind === "pause") clock.advance(ev.ms);
    else if (ev.kind === "unplug")
      this.emit("close", new P1Error("SOURCE_DISCONNECTED", "simulated cable unplugged", {}));
    else this.emit("open");
  }

  /** The meter stops for good: what is buffered is given up (counted) and the source ends. */
  finish(clock: ManualClock, quietMs: number): void {
    clock.advance(quietMs);
    this.emit("end");
  }
}

/** Runs `sim` to its `count` through `source`; `each` is called after every event delivered. */
export function drive(
  sim: Simulator,
  source: DrivenSource,
  clock: ManualClock,
  each?: (ev: SimEvent) => void,
): void {
  while (!sim.done) {
    for (const ev of sim.next().events) {
      source.deliver(ev, clock);
      each?.(ev);
    }
  }
}
