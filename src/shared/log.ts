/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where log lines go (the CLI passes stderr); one line per call, no trailing newline. */
export type LogSink = (line: string) => void;

/** A namespaced logger (`p1:gateway`, `p1:transport:serial`). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger for a sub-namespace sharing this one's sink, level and repeat limiter. */
  child(namespace: string): Logger;
}

/** Options of a root logger. */
export interface LoggerOptions {
  readonly sink: LogSink;
  readonly level?: LogLevel;
  /** Identical lines within this window are counted, not written (a meter sending garbage every second). */
  readonly repeatWindowMs?: number;
  readonly now?: () => number;
}

interface Repeat {
  readonly firstMs: number;
  suppressed: number;
}

// Bounds the repeat table: distinct messages beyond this are simply written (the table is a courtesy).
const MAX_TRACKED_LINES = 256;

/** Creates a root logger whose identical repeated lines are rate-limited. */
export function createLogger(namespace: string, options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level ?? "info"];
  const windowMs = options.repeatWindowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const repeats = new Map<string, Repeat>();

  const write = (ns: string, level: LogLevel, message: string) => {
    if (LEVELS[level] < threshold) return;
    const key = `${ns}\0${level}\0${message}`;
    const t = now();
    const seen = repeats.get(key);
    if (seen && t - seen.firstMs < windowMs) {
      seen.suppressed++;
      return;
    }
    const note = seen && seen.suppressed > 0 ? ` (repeated ${seen.suppressed} more times)` : "";
    repeats.delete(key);
    if (repeats.size >= MAX_TRACKED_LINES) repeats.delete(repeats.keys().next().value as string);
    repeats.set(key, { firstMs: t, suppressed: 0 });
    options.sink(`${new Date(t).toISOString()} ${level.padEnd(5)} ${ns}: ${message}${note}`);
  };

  const make = (ns: string): Logger => ({
    debug: (m) => write(ns, "debug", m),
    info: (m) => write(ns, "info", m),
    warn: (m) => write(ns, "warn", m),
    error: (m) => write(ns, "error", m),
    child: (sub) => make(`${ns}:${sub}`),
  });
  return make(namespace);
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
