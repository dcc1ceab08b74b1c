// Types of v8-flags.mjs (plain JavaScript: the launcher loads it before tsx, if tsx is loaded at all).

export function v8FlagsFor(argv: readonly string[]): readonly string[];
