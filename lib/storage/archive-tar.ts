/**
 * tar.gz: gunzip here (counting output against the limits and the ratio), then tar v7's Parser
 * (inspection) or Unpack (extraction) with the same entry checks in front of tar's own
 * protections. Modes are sanitized (no setuid/setgid/sticky, no group/other write); ownership
 * is never taken from the archive.
 */
import { createGunzip } from "node:zlib";
import { Parser, Unpack, type ReadEntry } from "tar";
import { ArtifactError } from "../errors";
import {
  destination,
  ratioTooHigh,
  safeEntryPath,
  tooManyBytes,
  type ArchiveInspection,
  type ExtractResult,
  type Limits,
} from "./archive-rules";
import { EntryTree } from "./archive-tree";

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

export function inspectTarGz(bytes: Buffer, limits: Limits): Promise<ArchiveInspection> {
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

export function extractTarGz(bytes: Buffer, root: string, limits: Limits): Promise<ExtractResult> {
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
