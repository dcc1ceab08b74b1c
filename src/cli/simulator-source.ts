import { EventEmitter } from "node:events";
import { createSimulator, Simulator, type SimulatorOptions } from "../../simulator/index.ts";
import { P1Error } from "../shared/index.ts";
import type { Source, SourceEvents } from "../transport/index.ts";

/**
 * The embedded simulator as a gateway source: telegrams in real time, simulated unplugs as link losses.
 * Lives in `cli` because only the composition root may join the simulator and the gateway.
 */
export class SimulatorSource extends EventEmitter<SourceEvents> implements Source {
  readonly description: string;
  /** The simulator being driven (its injection log tells what faults were sent). */
  readonly simulator: Simulator;
  #abort: AbortController | null = null;
  #run: Promise<void> | null = null;

  constructor(options: SimulatorOptions) {
    super();
    this.simulator = new Simulator(options);
    this.description = `simulator:${options.version}${options.key ? " (encrypted)" : ""}`;
  }

  /** Starts producing telegrams; idempotent. */
  start(): void {
    if (this.#run) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.emit("open");
    this.#run = this.#produce(abort.signal);
  }

  /** Stops the simulation; idempotent. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#run;
    this.#run = null;
    this.#abort = null;
  }

  async #produce(signal: AbortSignal): Promise<void> {
    const stream = createSimulator(this.simulator.options, {
      signal,
      simulator: this.simulator,
      onCable: (event) => {
        if (event === "unplug")
          this.emit("close", new P1Error("SOURCE_DISCONNECTED", "simulated cable unplugged", {}));
        else this.emit("open");
      },
    });
    for await (const bytes of stream) this.emit("data", bytes);
    if (!signal.aborted) this.emit("end");
  }
}
