/**
 * Results of `npm run bench`: one row per figure, printed as a table and as one JSON line, with the
 * machine they were measured on.
 */
import { cpus, totalmem } from "node:os";

/** One measured figure against its target. */
export interface Figure {
  /** Which bench produced it (`parse`, `latency`, …): what `npm run bench -- NAME` selects. */
  readonly bench: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** Human-readable target, e.g. "≥ 200000"; empty when the row is context for another. */
  readonly target: string;
  /** null when the row has no target of its own. */
  readonly met: boolean | null;
  /** What else was seen (p50, samples, losses). */
  readonly detail?: string;
}

/** The machine the figures come from. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly platform: string;
}

/** CPU model, cores, memory and Node version of this machine. */
export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** A figure that must reach at least `min`. */
export function atLeast(
  bench: string,
  name: string,
  value: number,
  unit: string,
  min: number,
  detail?: string,
): Figure {
  return { bench, name, value, unit, target: `≥ ${min}`, met: value >= min, ...(detail ? { detail } : {}) };
}

/** A figure that must stay below `max`. */
export function below(
  bench: string,
  name: string,
  value: number,
  unit: string,
  max: number,
  detail?: string,
): Figure {
  return { bench, name, value, unit, target: `< ${max}`, met: value < max, ...(detail ? { detail } : {}) };
}

/** A figure shown for context, with no target of its own. */
export function info(bench: string, name: string, value: number, unit: string, detail?: string): Figure {
  return { bench, name, value, unit, target: "", met: null, ...(detail ? { detail } : {}) };
}

/** Percentile (0..100) of a list of samples, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Rounds for display: 3 significant decimals below 10, whole numbers above. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
}

/** The table a person reads. */
export function formatTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    `${round(f.value)} ${f.unit}`,
    f.target ? `${f.target} ${f.unit}` : "",
    f.met === null ? "" : f.met ? "yes" : "NO",
    f.detail ?? "",
  ]);
  const head = ["figure", "value", "target", "met", "detail"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
