/**
 * V8 cuts a string of at least this many characters out of a longer one as a view that keeps the whole
 * longer string alive (a sliced string); shorter cuts are copies.
 */
export const VIEW_MIN_LENGTH = 13;

/**
 * `s` as a string of its own, for one that is kept long: a value cut out of a telegram's text may be a
 * view that would keep that whole text alive as long as it is kept. Copies only strings long enough to
 * be views; for the rare strings that are kept (memo keys, an entity's text value when it changes).
 */
export function ownString(s: string): string {
  return s.length < VIEW_MIN_LENGTH ? s : (JSON.parse(JSON.stringify(s)) as string);
}
