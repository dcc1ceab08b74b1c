// Types of build.mjs (plain JavaScript, so that `npm ci` can run it without tsx).

/** The bundle's entry module, relative to the repository root. */
export const ENTRY: string;

/** Builds into `outdir` (default dist/); resolves to the manifest's path. */
export function build(outdir?: string): Promise<string>;

/** Bundles `entry` (relative to the root) into `outfile`, inside the project, as the build bundles the CLI. */
export function bundle(entry: string, outfile: string): Promise<void>;
