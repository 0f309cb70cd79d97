/**
 * The rules every archive entry is held to, whatever the format: the size and count limits,
 * the entry-name check (`safeEntryPath`), the belt-and-braces destination check, and the
 * ArtifactErrors a broken limit produces. See ./archive.ts for the full list of rules.
 */
import { resolve, sep } from "node:path";
import { ArtifactError } from "../errors";
import { findControlCharacter } from "../sdk/text";

export interface ArchiveLimits {
  /** Total uncompressed bytes. Default 512 MiB. */
  readonly maxBytes?: number;
  /** Number of entries (files, directories, links). Default 10,000. */
  readonly maxEntries?: number;
  /** Uncompressed bytes per compressed byte, per entry and overall. Default 1,000. */
  readonly maxRatio?: number;
}
/** @deprecated the same as ArchiveLimits. */
export type ExtractLimits = ArchiveLimits;

export interface ExtractResult {
  /** Regular files written. */
  readonly files: number;
  /** Uncompressed bytes written. */
  readonly bytes: number;
}

export interface ArchiveInspection extends ExtractResult {
  /** Entries of every kind (files, directories, links). */
  readonly entries: number;
}

export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_MAX_RATIO = 1_000;
/** Longest path component most file systems accept (NAME_MAX), in bytes. */
export const MAX_NAME_COMPONENT_BYTES = 255;
/** Most symbolic links followed to resolve one path, in all (Linux's MAXSYMLINKS). */
export const MAX_LINK_HOPS = 40;

export type Limits = Required<ArchiveLimits>;

export function resolveLimits(limits: ArchiveLimits): Limits {
  return {
    maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxRatio: limits.maxRatio ?? DEFAULT_MAX_RATIO,
  };
}

/**
 * Normalizes an entry name to a relative POSIX path, or throws when it could leave the target.
 * Returns "" for the archive root itself (`./`). `..` is refused anywhere, even where it would
 * normalize back inside: no legitimate package needs it.
 */
export function safeEntryPath(name: string): string {
  const refuse = (why: string) =>
    new ArtifactError(`unsafe archive entry ${JSON.stringify(name)}: ${why}`);
  const control = findControlCharacter(name, "none");
  if (name.includes("\0")) throw refuse("contains a NUL character");
  if (control !== undefined) throw refuse(`contains a control character (${control})`);
  if (name.includes("\\")) throw refuse("contains a backslash");
  if (/^[A-Za-z]:/.test(name)) throw refuse("has a Windows drive letter");
  if (name.startsWith("/")) throw refuse("is an absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse("contains '..' and could escape the target directory");
  const long = parts.find((p) => Buffer.byteLength(p, "utf8") > MAX_NAME_COMPONENT_BYTES);
  if (long !== undefined) {
    throw refuse(
      `has a path component of ${Buffer.byteLength(long, "utf8")} bytes (at most ${MAX_NAME_COMPONENT_BYTES})`,
    );
  }
  return parts.join("/");
}

export function destination(root: string, relative: string, entryName: string): string {
  const dest = resolve(root, relative);
  // Belt and braces after safeEntryPath: the resolved path must be inside root.
  if (dest !== root && !dest.startsWith(root + sep)) {
    throw new ArtifactError(
      `unsafe archive entry ${JSON.stringify(entryName)}: escapes the target directory`,
    );
  }
  return dest;
}

export function tooManyBytes(limit: number, entry: string): ArtifactError {
  return new ArtifactError(
    `archive expands beyond the limit of ${limit} bytes (at entry ${JSON.stringify(entry)})`,
  );
}
export function tooManyEntries(limit: number): ArtifactError {
  return new ArtifactError(`archive has more than the limit of ${limit} entries`);
}
export function ratioTooHigh(limit: number, what: string): ArtifactError {
  return new ArtifactError(
    `${what} has a compression ratio over the limit of ${limit}:1 (a decompression bomb?)`,
  );
}
