// The build's record of what it was built from (dist/manifest.json), written by build.mjs and checked by
// bin.mjs before it runs the build. Plain JavaScript: the launcher reads it before tsx is loaded, if ever.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Bump when the manifest's shape changes: a manifest of another version is not trusted. */
const FORMAT = 1;

/** The manifest of a build from `inputs` (paths relative to `root`), read as they are now. */
export function describeInputs(root, inputs) {
  const files = {};
  for (const path of [...inputs].sort()) {
    const file = join(root, path);
    const { size, mtimeMs } = statSync(file);
    files[path] = { size, mtimeMs, sha256: sha256(file) };
  }
  return { format: FORMAT, files };
}

/**
 * Whether the build described by the manifest file was made from the files as they are now under `root`.
 * Size and mtime decide when they match (a stat each); when only the mtime differs (a checkout or an
 * unpacked tarball of the same bytes) the content hash decides. Anything unreadable means "not fresh".
 */
export function isFresh(root, manifestPath) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch {
    return false;
  }
  if (manifest?.format !== FORMAT || typeof manifest.files !== "object" || manifest.files === null) {
    return false;
  }
  const entries = Object.entries(manifest.files);
  if (entries.length === 0) return false;
  try {
    for (const [path, want] of entries) {
      const file = join(root, path);
      const { size, mtimeMs } = statSync(file);
      if (size !== want.size) return false;
      if (mtimeMs !== want.mtimeMs && sha256(file) !== want.sha256) return false;
    }
  } catch {
    return false;
  }
  return true;
}

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}
