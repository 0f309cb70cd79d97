/**
 * zip: the central directory is parsed here (names, types, offsets); data is inflated as a
 * stream so output is counted and bounded as it is produced, whatever the headers claim.
 * Also `createZip`, the deterministic writer.
 */
import { closeSync, mkdirSync, openSync, writeSync, chmodSync } from "node:fs";
import { dirname } from "node:path";
import { crc32, createInflateRaw } from "node:zlib";
import { zipSync, type Zippable } from "fflate";
import { ArtifactError } from "../errors";
import {
  destination,
  ratioTooHigh,
  safeEntryPath,
  tooManyBytes,
  tooManyEntries,
  type ArchiveInspection,
  type Limits,
} from "./archive-rules";
import { EntryTree } from "./archive-tree";

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
export async function walkZip(
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
