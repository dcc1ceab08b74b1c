// Types of build-manifest.mjs (plain JavaScript: the launcher loads it before tsx, if tsx is loaded at all).

/** What one input file looked like when it was built. */
export interface BuiltFile {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

export interface BuildManifest {
  readonly format: number;
  readonly files: Readonly<Record<string, BuiltFile>>;
}

export function describeInputs(root: string, inputs: Iterable<string>): BuildManifest;

export function isFresh(root: string, manifestPath: string): boolean;
