/**
 * The load generator: simulated DSMR 5.0 meters, each a TCP server like ser2net (the simulator's TCP
 * sink) that the gateway connects to. Telegrams are produced before the clock starts so the generator
 * spends its time writing, not modelling households, while the gateway is measured; each meter's are
 * kept in one buffer (5,000 meters' telegrams as a quarter of a million small buffers made the bench's
 * own full GCs pause for tens of milliseconds, and a late callback here reads as gateway latency).
 */
import { startTcpSink, type TcpSink } from "../../simulator/index.ts";
import { Simulator } from "../../simulator/simulator.ts";

/** N meters, each sending its next telegram once per `periodMs`, spread evenly over the period. */
export class MeterFleet {
  readonly sinks: TcpSink[];
  /** Each meter's telegrams back to back, and where each ends (telegram k is ends[k-1]..ends[k]). */
  readonly #telegrams: Buffer[];
  readonly #ends: number[][];
  readonly #sent: number[];
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(sinks: TcpSink[], telegrams: Buffer[][]) {
    this.sinks = sinks;
    this.#telegrams = telegrams.map((t) => Buffer.concat(t));
    this.#ends = telegrams.map((t) => {
      let end = 0;
      return t.map((b) => (end += b.length));
    });
    this.#sent = sinks.map(() => 0);
  }

  /** Starts `count` meters with `telegramsEach` telegrams prepared for each (distinct seeds, so ids). */
  static async start(count: number, telegramsEach: number): Promise<MeterFleet> {
    const telegrams = Array.from({ length: count }, (_, i) => {
      const sim = new Simulator({ version: "5.0", seed: 1000 + i });
      return Array.from({ length: telegramsEach }, () => sim.next().telegram.plaintext);
    });
    const sinks: TcpSink[] = [];
    for (let i = 0; i < count; i++) sinks.push(await startTcpSink(0));
    return new MeterFleet(sinks, telegrams);
  }

  /** Gateway sources for these meters. */
  sources(): { id: string; tcp: string }[] {
    return this.sinks.map((s, i) => ({ id: `m${i}`, tcp: `127.0.0.1:${s.port}` }));
  }

  get connected(): number {
    return this.sinks.filter((s) => s.clients > 0).length;
  }

  /** Sends meter `i`'s next telegram now; returns false when it has none left. */
  send(i: number, onSent?: (meter: number, atMs: number) => void): boolean {
    const k = this.#sent[i] as number;
    const ends = this.#ends[i];
    if (ends === undefined || k >= ends.length) return false;
    const next = (this.#telegrams[i] as Buffer).subarray(k === 0 ? 0 : ends[k - 1], ends[k]);
    this.#sent[i] = k + 1;
    onSent?.(i, performance.now());
    this.sinks[i]?.write(next).catch(() => {}); // a gateway that went away is the bench's own stop
    return true;
  }

  /** Every meter sends once per `periodMs`, meter i at offset i/N of the period, until stopped. */
  run(periodMs: number, onSent?: (meter: number, atMs: number) => void): void {
    const n = this.sinks.length;
    const start = performance.now();
    let due = 0; // sends issued so far, over all meters
    this.#timer = setInterval(() => {
      const target = Math.floor(((performance.now() - start) / periodMs) * n);
      for (; due < target; due++) this.send(due % n, onSent);
    }, 2);
  }

  stopSending(): void {
    clearInterval(this.#timer);
  }

  async close(): Promise<void> {
    this.stopSending();
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
