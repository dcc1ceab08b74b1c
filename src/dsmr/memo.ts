import { ownString } from "../shared/index.ts";

/**
 * A bounded memo for pure string functions on the hot path (OBIS references, equipment ids, timestamps
 * repeat from telegram to telegram). When full it starts over: a flood of distinct inputs (noise, fuzzing)
 * costs at most `capacity` entries of memory and never grows.
 */
export class BoundedMemo<V> {
  readonly #map = new Map<string, V>();
  constructor(
    readonly capacity: number,
    readonly compute: (key: string) => V,
  ) {}

  /** The value for `key`, computed once while it stays cached. */
  get(key: string): V {
    let v = this.#map.get(key);
    if (v === undefined && !this.#map.has(key)) {
      v = this.compute(key);
      if (this.#map.size >= this.capacity) this.#map.clear();
      this.#map.set(ownString(key), v);
    }
    return v as V;
  }
}
