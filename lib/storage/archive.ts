/**
 * Safe inspection and extraction of artifacts and dependency packages (zip and tar.gz).
 *
 * `inspectArchive` applies every rule without writing anything (run it when a package is
 * pushed); `extractArchive` applies them again while it writes (run it where the package is
 * used). The rules:
 *  - names: relative, normalized, no `..`, no absolute path, drive letter, backslash or
 *    control character, no path component over 255 bytes, no entry twice, no file where a
 *    directory must go;
 *  - types: regular files and directories; symbolic links in tar only, and only when they
 *    resolve inside the tree as actually extracted (each link of a chain is followed through
 *    the links before it, and checked again once every entry is known); no entry below a
 *    symbolic link; hard links, devices, FIFOs and sockets are refused;
 *  - size: at most `maxEntries` entries; declared sizes (zip headers, gzip's trailer, tar
 *    headers) are checked against `maxBytes` and a compression ratio of `maxRatio` before
 *    anything is inflated, and the bytes actually inflated are counted as they are produced:
 *    a zip entry stops at its declared size, the whole archive at the limits.
 * Any violation is an ArtifactError naming the entry as the archive names it — never a path on
 * this machine. On error during extraction the target directory may hold a partial extraction:
 * extract into a fresh directory and discard it on failure.
 *
 * The rooms: ./archive-rules.ts (limits, entry names, errors), ./archive-tree.ts (the tree an
 * archive would produce, and its links), ./archive-zip.ts and ./archive-tar.ts (the formats).
 * This file is the entry point and keeps every name importable from here.
 */
import { mkdir } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { ValidationError } from "../errors";
import {
  resolveLimits,
  type ArchiveInspection,
  type ArchiveLimits,
  type ExtractResult,
} from "./archive-rules";
import { extractTarGz, inspectTarGz } from "./archive-tar";
import { walkZip } from "./archive-zip";
import type { PackageFormat } from "./keys";

export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_RATIO,
  MAX_NAME_COMPONENT_BYTES,
  safeEntryPath,
  type ArchiveInspection,
  type ArchiveLimits,
  type ExtractLimits,
  type ExtractResult,
} from "./archive-rules";
export { createZip } from "./archive-zip";

export type ArchiveFormat = PackageFormat;

/** `.zip`, `.tar.gz` or `.tgz`, from a URI or file name. */
export function archiveFormatFromUri(uri: string): ArchiveFormat {
  const lower = uri.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  throw new ValidationError(
    `cannot tell the archive format of ${JSON.stringify(uri)}: the name must end in .zip, .tar.gz or .tgz`,
    "uri",
  );
}

/**
 * Checks an archive against every extraction rule without writing anything: the whole archive
 * is parsed and inflated (output counted, then discarded). Throws the ArtifactError extraction
 * would throw.
 */
export async function inspectArchive(
  bytes: Buffer,
  format: ArchiveFormat,
  limits: ArchiveLimits = {},
): Promise<ArchiveInspection> {
  const resolved = resolveLimits(limits);
  if (format === "zip") return walkZip(bytes, resolved, undefined);
  if (format === "tar.gz") return inspectTarGz(bytes, resolved);
  throw new ValidationError(`format must be "zip" or "tar.gz"`, "format");
}

export async function extractArchive(
  bytes: Buffer,
  format: ArchiveFormat,
  targetDir: string,
  limits: ArchiveLimits = {},
): Promise<ExtractResult> {
  const resolved = resolveLimits(limits);
  const root = resolve(targetDir);
  if (format !== "zip" && format !== "tar.gz") {
    throw new ValidationError(`format must be "zip" or "tar.gz"`, "format");
  }
  try {
    await mkdir(root, { recursive: true });
    if (format === "zip") {
      const { files, bytes: written } = await walkZip(bytes, resolved, root);
      return { files, bytes: written };
    }
    // The whole stream is checked before the first byte is written, then checked again as it
    // is written.
    await inspectTarGz(bytes, resolved);
    return await extractTarGz(bytes, root, resolved);
  } catch (error) {
    throw withoutLocalPaths(error, root);
  }
}

/** Rewrites `<root>/a/b` to `a/b` in a message: a worker's paths are nobody's business. */
function withoutLocalPaths(error: unknown, root: string): unknown {
  if (!(error instanceof Error) || !error.message.includes(root)) return error;
  error.message = error.message
    .split(root + sep)
    .join("")
    .split(root)
    .join(".");
  return error;
}
