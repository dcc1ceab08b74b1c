import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Root of the shared telegram corpus (`../shared/telegrams` beside the clone), read in place. */
export const CORPUS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/telegrams");

/** One corpus entry as `index.json` describes it. */
export interface CorpusEntry {
  readonly file: string;
  readonly group: string;
  readonly version: string;
  readonly crc: "valid" | "invalid" | "none";
  readonly crc_given: string | null;
  readonly crc_computed: string | null;
  readonly encrypted: boolean;
  readonly key: string | null;
  readonly aad: string | null;
  readonly plaintext_file: string | null;
  readonly line_endings: string | null;
  readonly notes: string;
}

/** Whether the corpus is present (CI has it; a user's clone may not). */
export const hasCorpus = existsSync(join(CORPUS_DIR, "index.json"));

/** The corpus index, or an empty list when the corpus is absent. */
export function corpusEntries(): CorpusEntry[] {
  return hasCorpus ? (JSON.parse(readFileSync(join(CORPUS_DIR, "index.json"), "utf8")) as CorpusEntry[]) : [];
}

/** Bytes of a corpus file. */
export function readCorpus(file: string): Buffer {
  return readFileSync(join(CORPUS_DIR, file));
}
