import type { Prng } from "../../simulator/index.ts";
import type { CosemObject, Telegram } from "../../src/dsmr/index.ts";

/**
 * One change to a telegram's lines, the way real streams change them: a line missing, two lines
 * swapped, a line repeated under another OBIS key (its definition then names two objects), or a line
 * moved to another M-Bus channel, a line read with another definition. Positions are fractions of the object count, so an edit applies to
 * any telegram. For tests of code that reuses what it found in the previous telegram.
 */
export type LineEdit =
  | { readonly kind: "drop"; readonly at: number }
  | { readonly kind: "swap"; readonly at: number; readonly with: number }
  | { readonly kind: "repeat"; readonly at: number; readonly to: number; readonly suffix: number }
  | { readonly kind: "move"; readonly at: number }
  /** The line read with another line's definition (as another version's table could). */
  | { readonly kind: "redefine"; readonly at: number; readonly as: number };

export function randomEdit(prng: Prng): LineEdit {
  const at = prng.next();
  switch (prng.int(0, 4)) {
    case 0:
      return { kind: "drop", at };
    case 1:
      return { kind: "swap", at, with: prng.next() };
    case 2:
      return { kind: "repeat", at, to: prng.next(), suffix: prng.int(1, 3) };
    case 3:
      return { kind: "move", at };
    default:
      return { kind: "redefine", at, as: prng.next() };
  }
}

/** The telegram with the edits made, in order. */
export function edited(t: Telegram, edits: readonly LineEdit[]): Telegram {
  const objects: CosemObject[] = [...t.objects];
  const index = (f: number) => Math.min(objects.length - 1, Math.floor(f * objects.length));
  for (const e of edits) {
    if (objects.length < 2) break;
    const at = index(e.at);
    const o = objects[at] as CosemObject;
    if (e.kind === "drop") objects.splice(at, 1);
    else if (e.kind === "swap") {
      const other = index(e.with);
      objects[at] = objects[other] as CosemObject;
      objects[other] = o;
    } else if (e.kind === "repeat") {
      const copy = { ...o, key: `${o.key}.${e.suffix}`, obis: `${o.obis}.${e.suffix}` };
      objects.splice(index(e.to), 0, copy);
    } else if (e.kind === "redefine") objects[at] = { ...o, def: objects[index(e.as)]?.def };
    else if (o.channel > 0) objects[at] = { ...o, channel: o.channel === 1 ? 2 : 1 };
  }
  return { ...t, objects };
}

/** The telegram with one random edit. */
export function rearranged(t: Telegram, prng: Prng): Telegram {
  return edited(t, [randomEdit(prng)]);
}
