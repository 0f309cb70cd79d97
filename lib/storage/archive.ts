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
 */
import { closeSync, mkdirSync, openSync, writeSync, chmodSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { crc32, createGunzip, createInflateRaw } from "node:zlib";
import { zipSync, type Zippable } from "fflate";
import { Parser, Unpack, type ReadEntry } from "tar";
import { ArtifactError, ValidationError } from "../errors";
import { findControlCharacter } from "../sdk/text";
import type { PackageFormat } from "./keys";

export type ArchiveFormat = PackageFormat;

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
const MAX_LINK_HOPS = 40;

type Limits = Required<ArchiveLimits>;

function resolveLimits(limits: ArchiveLimits): Limits {
  return {
    maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxRatio: limits.maxRatio ?? DEFAULT_MAX_RATIO,
  };
}

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

function destination(root: string, relative: string, entryName: string): string {
  const dest = resolve(root, relative);
  // Belt and braces after safeEntryPath: the resolved path must be inside root.
  if (dest !== root && !dest.startsWith(root + sep)) {
    throw new ArtifactError(
      `unsafe archive entry ${JSON.stringify(entryName)}: escapes the target directory`,
    );
  }
  return dest;
}

function tooManyBytes(limit: number, entry: string): ArtifactError {
  return new ArtifactError(
    `archive expands beyond the limit of ${limit} bytes (at entry ${JSON.stringify(entry)})`,
  );
}
function tooManyEntries(limit: number): ArtifactError {
  return new ArtifactError(`archive has more than the limit of ${limit} entries`);
}
function ratioTooHigh(limit: number, what: string): ArtifactError {
  return new ArtifactError(
    `${what} has a compression ratio over the limit of ${limit}:1 (a decompression bomb?)`,
  );
}

// ---------------------------------------------------------------------------------------------
// The tree an archive would produce, kept in memory: entries are added in archive order and
// checked against what is already there, so links are resolved against the real tree rather
// than each one lexically.

type TreeNode =
  | { kind: "directory"; implicit: boolean }
  | { kind: "file" }
  | { kind: "symlink"; target: string; name: string };

class EntryTree {
  private readonly nodes = new Map<string, TreeNode>();
  entries = 0;

  constructor(private readonly maxEntries: number) {}

  /** Checks and records one entry; returns its normalized relative path. */
  add(name: string, kind: "file" | "directory" | "symlink", linkTarget?: string): string {
    this.entries++;
    if (this.entries > this.maxEntries) throw tooManyEntries(this.maxEntries);
    const relative = safeEntryPath(name);
    const refuse = (why: string) =>
      new ArtifactError(`unsafe archive entry ${JSON.stringify(name)}: ${why}`);
    if (relative === "") {
      if (kind !== "directory") throw refuse("names the archive root");
      return relative;
    }
    const parts = relative.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const node = this.nodes.get(parent);
      if (node?.kind === "symlink") {
        throw refuse(`lies below the symbolic link ${JSON.stringify(node.name)}`);
      }
      if (node?.kind === "file") {
        throw new ArtifactError(
          `archive entry ${JSON.stringify(name)} conflicts with another entry (a file and a directory at one path)`,
        );
      }
      if (node === undefined) this.nodes.set(parent, { kind: "directory", implicit: true });
    }
    const existing = this.nodes.get(relative);
    if (existing !== undefined) {
      if (existing.kind === "directory" && existing.implicit && kind === "directory") {
        this.nodes.set(relative, { kind: "directory", implicit: false });
        return relative;
      }
      if (existing.kind === "directory" && existing.implicit) {
        throw new ArtifactError(
          `archive entry ${JSON.stringify(name)} conflicts with another entry (a file and a directory at one path)`,
        );
      }
      throw new ArtifactError(`archive entry ${JSON.stringify(name)} appears more than once`);
    }
    if (kind === "symlink") {
      const target = linkTarget ?? "";
      if (
        target === "" ||
        target.startsWith("/") ||
        /^[A-Za-z]:/.test(target) ||
        target.includes("\\") ||
        findControlCharacter(target, "none") !== undefined
      ) {
        throw refuse(
          `symbolic link to ${JSON.stringify(target)} points outside the target directory`,
        );
      }
      this.nodes.set(relative, { kind: "symlink", target, name });
      this.checkLink(relative);
    } else {
      this.nodes.set(
        relative,
        kind === "file" ? { kind: "file" } : { kind: "directory", implicit: false },
      );
    }
    return relative;
  }

  /** Every link resolves inside, now that every entry is known (a later link can redirect an earlier one). */
  finish(): void {
    for (const [path, node] of this.nodes) {
      if (node.kind === "symlink") this.checkLink(path);
    }
  }

  private checkLink(path: string): void {
    const node = this.nodes.get(path);
    if (node?.kind !== "symlink") return;
    const parent = path.split("/").slice(0, -1);
    const result = this.follow(parent, node.target, { followed: 0 });
    if (result === "escapes" || result === "loops") {
      throw new ArtifactError(
        `unsafe archive entry ${JSON.stringify(node.name)}: symbolic link to ${JSON.stringify(node.target)} ` +
          (result === "escapes"
            ? "points outside the target directory once the links it passes through are followed"
            : `never resolves (a loop of symbolic links, or more than ${MAX_LINK_HOPS} of them)`),
      );
    }
  }

  /** Resolves `target` from directory `from` through the links of the tree. */
  private follow(
    from: string[],
    target: string,
    // Shared by the whole resolution, as the kernel counts: links that expand into several
    // links (a1 -> a0/a0, a2 -> a1/a1, ...) cannot make it exponential.
    hops: { followed: number },
  ): string[] | "escapes" | "loops" {
    if (target.startsWith("/")) return "escapes";
    let parts = [...from];
    for (const component of target.split("/")) {
      if (component === "" || component === ".") continue;
      if (component === "..") {
        if (parts.length === 0) return "escapes";
        parts.pop();
        continue;
      }
      parts.push(component);
      const node = this.nodes.get(parts.join("/"));
      if (node?.kind === "symlink") {
        hops.followed++;
        if (hops.followed > MAX_LINK_HOPS) return "loops";
        const resolved = this.follow(parts.slice(0, -1), node.target, hops);
        if (typeof resolved === "string") return resolved;
        parts = resolved;
      }
    }
    return parts;
  }
}

// ---------------------------------------------------------------------------------------------
// zip: the central directory is parsed here (names, types, offsets); data is inflated as a
// stream so output is counted and bounded as it is produced, whatever the headers claim.

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  unixMode: number | undefined;
  isDirectory: boolean;
  localHeaderOffset: number;
}

function corrupt(why: string): ArtifactError {
  return new ArtifactError(`corrupt zip archive: ${why}`);
}

function readZipEntries(buf: Buffer, maxEntries: number): ZipEntry[] {
  if (buf.length < 22) throw corrupt("too short to be a zip file");
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd === -1) throw corrupt("end of central directory not found");
  const total = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (total === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    throw new ArtifactError(
      "ZIP64 archives are not supported (the size limits are far below 4 GiB)",
    );
  }
  if (total > maxEntries) throw tooManyEntries(maxEntries);
  if (cdOffset + cdSize > eocd) throw corrupt("central directory lies outside the file");

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let n = 0; n < total; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL_SIGNATURE) {
      throw corrupt(`central directory entry ${n} is damaged`);
    }
    const madeBy = buf.readUInt16LE(p + 4) >> 8;
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const compressedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const external = buf.readUInt32LE(p + 38);
    const localHeaderOffset = buf.readUInt32LE(p + 42);
    if (p + 46 + nameLen > buf.length) throw corrupt(`central directory entry ${n} is truncated`);
    const name = buf.toString("utf8", p + 46, p + 46 + nameLen);
    // Host 3 = Unix: the high 16 bits of the external attributes are st_mode.
    const unixMode = madeBy === 3 ? external >>> 16 : undefined;
    const isDirectory =
      name.endsWith("/") ||
      (unixMode !== undefined && (unixMode & 0o170000) === 0o040000) ||
      (madeBy === 0 && (external & 0x10) !== 0);
    entries.push({
      name,
      method,
      flags,
      crc,
      compressedSize,
      size,
      unixMode,
      isDirectory,
      localHeaderOffset,
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function checkZipEntryType(entry: ZipEntry): void {
  if (entry.unixMode === undefined) return;
  const type = entry.unixMode & 0o170000;
  if (type === 0o120000) {
    throw new ArtifactError(
      `unsafe archive entry ${JSON.stringify(entry.name)}: symbolic links are not allowed in zip archives`,
    );
  }
  if (type !== 0 && type !== 0o100000 && type !== 0o040000) {
    throw new ArtifactError(
      `unsafe archive entry ${JSON.stringify(entry.name)}: only regular files and directories may be extracted (device, FIFO or socket entry)`,
    );
  }
}

/**
 * Runs a filesystem step; a conflict the archive itself causes (a file where a directory must
 * go, or the reverse) is an ArtifactError naming the entry. Other I/O errors (disk full,
 * permissions) are not the archive's fault and pass through.
 */
function structural<T>(entryName: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR" || code === "EEXIST" || code === "EISDIR") {
      throw new ArtifactError(
        `archive entry ${JSON.stringify(entryName)} conflicts with another entry (a file and a directory at one path)`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Checks every zip entry (names, types, declared sizes and ratios) before inflating anything,
 * then inflates each file with its output counted: into `root` when given, else discarded.
 */
async function walkZip(
  buf: Buffer,
  limits: Limits,
  root: string | undefined,
): Promise<ArchiveInspection> {
  const entries = readZipEntries(buf, limits.maxEntries);
  const tree = new EntryTree(limits.maxEntries);
  let declared = 0;
  let compressed = 0;
  const planned = entries.map((entry) => {
    checkZipEntryType(entry);
    const relative = tree.add(entry.name, entry.isDirectory ? "directory" : "file");
    if ((entry.flags & 0x1) !== 0) {
      throw new ArtifactError(`archive entry ${JSON.stringify(entry.name)} is encrypted`);
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ArtifactError(
        `archive entry ${JSON.stringify(entry.name)} uses unsupported compression method ${entry.method} (only stored and deflate)`,
      );
    }
    if (!entry.isDirectory) {
      declared += entry.size;
      compressed += entry.compressedSize;
      if (declared > limits.maxBytes) throw tooManyBytes(limits.maxBytes, entry.name);
      if (entry.size > limits.maxRatio * Math.max(entry.compressedSize, 1)) {
        throw ratioTooHigh(limits.maxRatio, `archive entry ${JSON.stringify(entry.name)}`);
      }
    }
    return {
      entry,
      relative,
      dest: root === undefined ? undefined : destination(root, relative, entry.name),
    };
  });
  tree.finish();
  if (declared > limits.maxRatio * Math.max(compressed, 1)) {
    throw ratioTooHigh(limits.maxRatio, "the archive");
  }

  let files = 0;
  let bytes = 0;
  for (const { entry, relative, dest } of planned) {
    if (relative === "") continue;
    if (entry.isDirectory) {
      if (dest !== undefined) structural(entry.name, () => mkdirSync(dest, { recursive: true }));
      continue;
    }
    const h = entry.localHeaderOffset;
    if (h + 30 > buf.length || buf.readUInt32LE(h) !== LOCAL_SIGNATURE) {
      throw corrupt(`local header of ${JSON.stringify(entry.name)} is damaged`);
    }
    const dataStart = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
    const dataEnd = dataStart + entry.compressedSize;
    if (dataEnd > buf.length) throw corrupt(`data of ${JSON.stringify(entry.name)} is truncated`);
    const data = buf.subarray(dataStart, dataEnd);

    const executable = entry.unixMode !== undefined && (entry.unixMode & 0o111) !== 0;
    let fd: number | undefined;
    if (dest !== undefined) {
      structural(entry.name, () => mkdirSync(dirname(dest), { recursive: true }));
      fd = structural(entry.name, () => openSync(dest, "wx", executable ? 0o755 : 0o644));
    }
    let written = 0;
    let crc = 0;
    try {
      const write = (chunk: Uint8Array) => {
        written += chunk.length;
        bytes += chunk.length;
        // Headers are not trusted: an entry stops at the size it declared (checked above
        // against the limits), so one declaring 0 bytes trips at its first byte.
        if (written > entry.size) {
          throw corrupt(
            `entry ${JSON.stringify(entry.name)} inflates to more than its recorded size of ${entry.size} bytes`,
          );
        }
        if (bytes > limits.maxBytes) throw tooManyBytes(limits.maxBytes, entry.name);
        crc = crc32(chunk, crc);
        if (fd !== undefined) writeSync(fd, chunk);
      };
      if (entry.method === 0) {
        write(data);
      } else {
        // Node's native inflate, streamed: output is counted chunk by chunk (about 2.5x
        // faster than fflate's pure-JS inflate here), and memory stays bounded.
        const inflater = createInflateRaw({ chunkSize: 256 * 1024 });
        inflater.end(data);
        try {
          for await (const chunk of inflater) write(chunk as Buffer);
        } catch (error) {
          inflater.destroy();
          if (error instanceof ArtifactError) throw error;
          throw corrupt(
            `cannot inflate ${JSON.stringify(entry.name)}: ${(error as Error).message}`,
          );
        }
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (written !== entry.size || crc !== entry.crc) {
      throw corrupt(
        `entry ${JSON.stringify(entry.name)} does not match its recorded size or checksum`,
      );
    }
    if (executable && dest !== undefined) chmodSync(dest, 0o755);
    files++;
  }
  return { entries: tree.entries, files, bytes };
}

// ---------------------------------------------------------------------------------------------
// tar.gz: gunzip here (counting output against the limits and the ratio), then tar v7's Parser
// (inspection) or Unpack (extraction) with the same entry checks in front of tar's own
// protections. Modes are sanitized (no setuid/setgid/sticky, no group/other write); ownership
// is never taken from the archive.

/** Errors the archive causes become ArtifactErrors; I/O errors (disk full, ...) pass through. */
function tarFailure(error: unknown): Error {
  if (error instanceof ArtifactError) return error;
  const code = String((error as NodeJS.ErrnoException).code ?? "");
  const message = (error as Error).message;
  if (code.startsWith("Z_") || code === "TAR_BAD_ARCHIVE" || code === "TAR_ENTRY_INVALID") {
    return new ArtifactError(`corrupt tar.gz archive: ${message}`, { cause: error });
  }
  if (code.startsWith("TAR_")) {
    // tar's own protections (e.g. TAR_SYMLINK_ERROR: writing through a symbolic link).
    return new ArtifactError(`unsafe or invalid tar.gz archive: ${message}`, { cause: error });
  }
  if (code === "ENOTDIR" || code === "EEXIST" || code === "EISDIR") {
    return new ArtifactError(`tar.gz archive entries conflict: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Tar framing: at most a header (+ padding, + long-name headers) per entry. */
function maxTarStreamBytes(limits: Limits): number {
  return limits.maxBytes + (limits.maxEntries + 16) * 3 * 512 + 1024 * 1024;
}

/**
 * Before inflating: gzip's trailer records the uncompressed size (mod 2^32). A stream that
 * claims more than the limits or the ratio allow is refused unread; the claim is then not
 * trusted either — the output is counted.
 */
function checkGzipTrailer(bytes: Buffer, limits: Limits): void {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new ArtifactError("corrupt tar.gz archive: not a gzip stream");
  }
  const declared = bytes.readUInt32LE(bytes.length - 4);
  const claim = `the archive's gzip trailer declares ${declared} bytes uncompressed`;
  if (declared > maxTarStreamBytes(limits)) {
    throw new ArtifactError(`${claim}, beyond the limit of ${limits.maxBytes} bytes`);
  }
  if (declared > limits.maxRatio * bytes.length) {
    throw new ArtifactError(
      `${claim}, a compression ratio over the limit of ${limits.maxRatio}:1 (a decompression bomb, or a truncated file)`,
    );
  }
}

/** Checks one tar entry against the tree and the declared-size budget. */
function checkTarEntry(
  e: ReadEntry,
  tree: EntryTree,
  budget: { declared: number; files: number },
  limits: Limits,
): void {
  const refuse = (why: string) =>
    new ArtifactError(`unsafe archive entry ${JSON.stringify(e.path)}: ${why}`);
  switch (e.type) {
    case "File":
    case "OldFile":
    case "ContiguousFile":
      tree.add(e.path, "file");
      budget.declared += e.size ?? 0;
      if (budget.declared > limits.maxBytes) throw tooManyBytes(limits.maxBytes, e.path);
      budget.files++;
      return;
    case "Directory":
      tree.add(e.path, "directory");
      return;
    case "SymbolicLink":
      tree.add(e.path, "symlink", e.linkpath ?? "");
      return;
    case "Link":
      throw refuse(
        `hard link to ${JSON.stringify(e.linkpath ?? "")} is not allowed (use a copy or a symbolic link)`,
      );
    default:
      throw refuse(
        `entry type ${e.type} is not allowed (only files, directories and symbolic links inside the target)`,
      );
  }
}

/**
 * Gunzips `bytes` into `sink`, counting the output against the limits and the ratio. Resolves
 * when the sink has all of it; `fail` receives the first error (and stops the stream).
 */
function pumpGunzip(
  bytes: Buffer,
  limits: Limits,
  sink: {
    write(chunk: Buffer): boolean;
    once(event: "drain", cb: () => void): unknown;
    end(): unknown;
  },
  isSettled: () => boolean,
  fail: (error: unknown) => void,
): { destroy(): void } {
  const maxStream = Math.min(maxTarStreamBytes(limits), limits.maxRatio * bytes.length);
  let streamBytes = 0;
  const gunzip = createGunzip();
  gunzip.on("data", (chunk: Buffer) => {
    if (isSettled()) return;
    streamBytes += chunk.length;
    if (streamBytes > maxStream) {
      fail(
        streamBytes > maxTarStreamBytes(limits)
          ? tooManyBytes(limits.maxBytes, "(tar stream)")
          : ratioTooHigh(limits.maxRatio, "the archive"),
      );
      return;
    }
    if (!sink.write(chunk)) {
      gunzip.pause();
      sink.once("drain", () => gunzip.resume());
    }
  });
  gunzip.on("end", () => {
    if (!isSettled()) sink.end();
  });
  gunzip.on("error", (error) => fail(error));
  gunzip.end(bytes);
  return gunzip;
}

function inspectTarGz(bytes: Buffer, limits: Limits): Promise<ArchiveInspection> {
  checkGzipTrailer(bytes, limits);
  return new Promise<ArchiveInspection>((resolvePromise, reject) => {
    const tree = new EntryTree(limits.maxEntries);
    const budget = { declared: 0, files: 0 };
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      parser.abort(error instanceof Error ? error : new Error(String(error)));
      reject(tarFailure(error));
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (!settled) {
          try {
            checkTarEntry(entry, tree, budget, limits);
          } catch (error) {
            fail(error);
          }
        }
        entry.resume();
      },
    });
    parser.on("error", (error: unknown) => fail(error));
    parser.on("end", () => {
      if (settled) return;
      try {
        tree.finish();
      } catch (error) {
        fail(error);
        return;
      }
      settled = true;
      resolvePromise({ entries: tree.entries, files: budget.files, bytes: budget.declared });
    });
    const gunzip = pumpGunzip(bytes, limits, parser, () => settled, fail);
  });
}

function extractTarGz(bytes: Buffer, root: string, limits: Limits): Promise<ExtractResult> {
  return new Promise<ExtractResult>((resolvePromise, reject) => {
    const tree = new EntryTree(limits.maxEntries);
    const budget = { declared: 0, files: 0 };
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      unpack.abort(error instanceof Error ? error : new Error(String(error)));
      reject(tarFailure(error));
    };

    const filter = (_path: string, entry: ReadEntry | import("fs").Stats): boolean => {
      if (settled) return false;
      const e = entry as ReadEntry;
      try {
        checkTarEntry(e, tree, budget, limits);
        destination(root, safeEntryPath(e.path), e.path);
        if (typeof e.mode === "number") e.mode = e.mode & 0o755;
        return true;
      } catch (error) {
        fail(error);
        return false;
      }
    };

    const unpack = new Unpack({
      cwd: root,
      strict: true,
      filter,
      preserveOwner: false,
      maxDepth: 256,
    });
    unpack.on("error", (error: unknown) => fail(error));
    unpack.on("finish", () => {
      if (settled) return;
      try {
        tree.finish();
      } catch (error) {
        fail(error);
        return;
      }
      settled = true;
      resolvePromise({ files: budget.files, bytes: budget.declared });
    });
    const gunzip = pumpGunzip(bytes, limits, unpack, () => settled, fail);
  });
}

// ---------------------------------------------------------------------------------------------

/** Deterministic zip (sorted names, fixed timestamps): same inputs, same bytes. */
export function createZip(entries: Readonly<Record<string, Buffer | Uint8Array | string>>): Buffer {
  // DOS timestamps hold local fields; a local-time date gives the same fields in every zone.
  const mtime = new Date(1980, 0, 1, 0, 0, 0);
  const zippable: Zippable = {};
  for (const name of Object.keys(entries).sort()) {
    safeEntryPath(name);
    const value = entries[name]!;
    const data = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    zippable[name] = [
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      { mtime, level: 6 },
    ];
  }
  return Buffer.from(zipSync(zippable, { mtime }));
}
