/**
 * Safe extraction of artifacts and dependency packages (zip and tar.gz).
 *
 * Every entry is checked before anything is written: its normalized path must stay inside the
 * target directory (no absolute paths, no `..` segments, no drive letters or backslashes), only
 * regular files and directories are extracted from zips (symlinks refused outright), tar links
 * must resolve inside the target, devices and FIFOs are refused, and the entry count and the
 * uncompressed bytes actually produced are counted as they are produced — headers are not
 * trusted. Any violation is an ArtifactError naming the entry. On error the target directory
 * may hold a partial extraction: extract into a fresh directory and discard it on failure.
 */
import { closeSync, mkdirSync, openSync, writeSync, chmodSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, posix, resolve, sep } from "node:path";
import { crc32, createGunzip, createInflateRaw } from "node:zlib";
import { zipSync, type Zippable } from "fflate";
import { Unpack, type ReadEntry } from "tar";
import { ArtifactError, ValidationError } from "../errors";
import type { PackageFormat } from "./keys";

export type ArchiveFormat = PackageFormat;

export interface ExtractLimits {
  /** Total uncompressed bytes. Default 512 MiB. */
  readonly maxBytes?: number;
  /** Number of entries (files, directories, links). Default 20,000. */
  readonly maxEntries?: number;
}

export interface ExtractResult {
  /** Regular files written. */
  readonly files: number;
  /** Uncompressed bytes written. */
  readonly bytes: number;
}

export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 20_000;

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

export async function extractArchive(
  bytes: Buffer,
  format: ArchiveFormat,
  targetDir: string,
  limits: ExtractLimits = {},
): Promise<ExtractResult> {
  const resolved = {
    maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
  };
  const root = resolve(targetDir);
  await mkdir(root, { recursive: true });
  if (format === "zip") return extractZip(bytes, root, resolved);
  if (format === "tar.gz") return extractTarGz(bytes, root, resolved);
  throw new ValidationError(`format must be "zip" or "tar.gz"`, "format");
}

/**
 * Normalizes an entry name to a relative POSIX path, or throws when it could leave the target.
 * Returns "" for the archive root itself (`./`). `..` is refused anywhere, even where it would
 * normalize back inside: no legitimate package needs it.
 */
export function safeEntryPath(name: string): string {
  const refuse = (why: string) =>
    new ArtifactError(`unsafe archive entry ${JSON.stringify(name)}: ${why}`);
  if (name.includes("\0")) throw refuse("contains a NUL character");
  if (name.includes("\\")) throw refuse("contains a backslash");
  if (/^[A-Za-z]:/.test(name)) throw refuse("has a Windows drive letter");
  if (name.startsWith("/")) throw refuse("is an absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse("contains '..' and could escape the target directory");
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

async function extractZip(
  buf: Buffer,
  root: string,
  limits: Required<ExtractLimits>,
): Promise<ExtractResult> {
  const entries = readZipEntries(buf, limits.maxEntries);
  // Validate every entry before writing anything.
  const planned = entries.map((entry) => {
    checkZipEntryType(entry);
    const relative = safeEntryPath(entry.name);
    if ((entry.flags & 0x1) !== 0) {
      throw new ArtifactError(`archive entry ${JSON.stringify(entry.name)} is encrypted`);
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ArtifactError(
        `archive entry ${JSON.stringify(entry.name)} uses unsupported compression method ${entry.method} (only stored and deflate)`,
      );
    }
    return { entry, relative, dest: destination(root, relative, entry.name) };
  });
  const seen = new Set<string>();
  let files = 0;
  let bytes = 0;
  for (const { entry, relative, dest } of planned) {
    if (relative === "") continue;
    if (seen.has(relative)) {
      throw new ArtifactError(`archive entry ${JSON.stringify(entry.name)} appears more than once`);
    }
    seen.add(relative);
    if (entry.isDirectory) {
      structural(entry.name, () => mkdirSync(dest, { recursive: true }));
      continue;
    }
    structural(entry.name, () => mkdirSync(dirname(dest), { recursive: true }));
    const h = entry.localHeaderOffset;
    if (h + 30 > buf.length || buf.readUInt32LE(h) !== LOCAL_SIGNATURE) {
      throw corrupt(`local header of ${JSON.stringify(entry.name)} is damaged`);
    }
    const dataStart = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
    const dataEnd = dataStart + entry.compressedSize;
    if (dataEnd > buf.length) throw corrupt(`data of ${JSON.stringify(entry.name)} is truncated`);
    const data = buf.subarray(dataStart, dataEnd);

    const executable = entry.unixMode !== undefined && (entry.unixMode & 0o111) !== 0;
    const fd = structural(entry.name, () => openSync(dest, "wx", executable ? 0o755 : 0o644));
    let written = 0;
    let crc = 0;
    try {
      const write = (chunk: Uint8Array) => {
        written += chunk.length;
        bytes += chunk.length;
        if (bytes > limits.maxBytes) throw tooManyBytes(limits.maxBytes, entry.name);
        crc = crc32(chunk, crc);
        writeSync(fd, chunk);
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
      closeSync(fd);
    }
    if (written !== entry.size || crc !== entry.crc) {
      throw corrupt(
        `entry ${JSON.stringify(entry.name)} does not match its recorded size or checksum`,
      );
    }
    if (executable) chmodSync(dest, 0o755);
    files++;
  }
  return { files, bytes };
}

// ---------------------------------------------------------------------------------------------
// tar.gz: gunzip here (counting output), then tar v7 Unpack with our filter in front of its own
// protections. Modes are sanitized (no setuid/setgid/sticky, no group/other write); ownership
// is never taken from the archive.

/** Errors the archive causes become ArtifactErrors; I/O errors (disk full, ...) pass through. */
function tarFailure(error: unknown): Error {
  if (error instanceof ArtifactError) return error;
  const code = String((error as NodeJS.ErrnoException).code ?? "");
  const message = (error as Error).message;
  if (code.startsWith("Z_") || code === "TAR_BAD_ARCHIVE") {
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

function extractTarGz(
  bytes: Buffer,
  root: string,
  limits: Required<ExtractLimits>,
): Promise<ExtractResult> {
  return new Promise<ExtractResult>((resolvePromise, reject) => {
    let files = 0;
    let declaredBytes = 0;
    let entries = 0;
    let settled = false;
    // Tar framing adds at most a 512-byte header (+ padding, + long-name headers) per entry.
    const maxStreamBytes = limits.maxBytes + (limits.maxEntries + 16) * 3 * 512 + 1024 * 1024;
    let streamBytes = 0;

    const gunzip = createGunzip();
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
        entries++;
        if (entries > limits.maxEntries) throw tooManyEntries(limits.maxEntries);
        const relative = safeEntryPath(e.path);
        destination(root, relative, e.path);
        switch (e.type) {
          case "File":
          case "OldFile":
          case "ContiguousFile":
            declaredBytes += e.size ?? 0;
            if (declaredBytes > limits.maxBytes) throw tooManyBytes(limits.maxBytes, e.path);
            files++;
            break;
          case "Directory":
            break;
          case "SymbolicLink": {
            const target = e.linkpath ?? "";
            if (target.startsWith("/") || /^[A-Za-z]:/.test(target) || target.includes("\\")) {
              throw new ArtifactError(
                `unsafe archive entry ${JSON.stringify(e.path)}: symbolic link to ${JSON.stringify(target)} points outside the target directory`,
              );
            }
            const resolvedTarget = posix.normalize(posix.join(posix.dirname(relative), target));
            if (resolvedTarget === ".." || resolvedTarget.startsWith("../")) {
              throw new ArtifactError(
                `unsafe archive entry ${JSON.stringify(e.path)}: symbolic link to ${JSON.stringify(target)} points outside the target directory`,
              );
            }
            break;
          }
          case "Link": {
            // Hard link targets are archive paths, relative to the archive root.
            const target = e.linkpath ?? "";
            try {
              if (safeEntryPath(target) === "") throw new Error("empty");
            } catch {
              throw new ArtifactError(
                `unsafe archive entry ${JSON.stringify(e.path)}: hard link to ${JSON.stringify(target)} points outside the target directory`,
              );
            }
            break;
          }
          default:
            throw new ArtifactError(
              `unsafe archive entry ${JSON.stringify(e.path)}: entry type ${e.type} is not allowed (only files, directories and links inside the target)`,
            );
        }
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
      settled = true;
      resolvePromise({ files, bytes: declaredBytes });
    });

    gunzip.on("data", (chunk: Buffer) => {
      if (settled) return;
      streamBytes += chunk.length;
      if (streamBytes > maxStreamBytes) {
        fail(tooManyBytes(limits.maxBytes, "(tar stream)"));
        return;
      }
      if (!unpack.write(chunk)) {
        gunzip.pause();
        unpack.once("drain", () => gunzip.resume());
      }
    });
    gunzip.on("end", () => {
      if (!settled) unpack.end();
    });
    gunzip.on("error", (error) => fail(error));
    gunzip.end(bytes);
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
