// V8 flags the launcher (bin.mjs) sets for a command, before the command's code is loaded. Plain
// JavaScript, like build-manifest.mjs: the launcher loads it before tsx, if tsx is loaded at all.

/**
 * `serve`: a gateway's heap is mostly its meters' state, live for months, plus telegram garbage. After a
 * full GC, V8 lets the old generation grow to as much as 4× what was live before it collects again; at
 * 5,000 meters (~230 MB live) that let the heap reach 430-830 MB and RSS 470-930 MB from run to run
 * (issue 8, scale bench). Growing by half at most held the heap at ~390 MB and RSS at ~505 MB, for a
 * full GC every ~4 s at that size (marking mostly concurrent) and no CPU change measurable on the bench.
 * A small gateway is not affected: V8 still grows a small heap by its minimum step.
 */
const SERVE = ["--heap-growing-percent=50"];

/** The V8 flags for a command line (`serve --config x.yaml` → serve's); none for other commands. */
export function v8FlagsFor(argv) {
  return argv[0] === "serve" ? SERVE : [];
}
