/**
 * Artifacts by SHA-256 on disk (the local platform's DAGY_ARTIFACT_CACHE_DIR): an artifact is
 * immutable once registered and named by its hash, so a worker that finds `<sha256>.zip` in the
 * cache need not fetch it from S3. Populating verifies the hash before the file is visible, and
 * writes to a temporary file renamed into place (rename is atomic within one directory), so
 * concurrent workers see either nothing or a whole, verified artifact.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "../hash";
import type { ObjectStore } from "../storage/object-store";

export interface ArtifactCacheOptions {
  readonly dir: string;
  /** The run's artifact (the only object served from the cache). */
  readonly uri: string;
  readonly sha256: string;
}

/** Path of an artifact in the cache. */
export function cachedArtifactPath(dir: string, sha256: string): string {
  return join(dir, `${sha256.toLowerCase()}.zip`);
}

/**
 * The same store, whose `get` of the run's artifact reads the cache first. A cached file whose
 * hash does not match (a damaged disk) is removed and fetched again; an object whose hash does
 * not match is returned uncached, and the worker reports the mismatch as it always has.
 */
export function withArtifactCache<S extends Pick<ObjectStore, "get" | "put">>(
  store: S,
  options: ArtifactCacheOptions,
): Pick<ObjectStore, "get" | "put"> {
  const path = cachedArtifactPath(options.dir, options.sha256);
  const expected = options.sha256.toLowerCase();
  return {
    put: (...args: Parameters<ObjectStore["put"]>) => store.put(...args),
    get: async (uri: string) => {
      if (uri !== options.uri) return store.get(uri);
      const cached = await readFile(path).catch(() => undefined);
      if (cached !== undefined) {
        if (sha256Hex(cached) === expected) return cached;
        await rm(path, { force: true }).catch(() => undefined);
      }
      const bytes = await store.get(uri);
      if (sha256Hex(bytes) === expected) await populate(options.dir, path, bytes);
      return bytes;
    },
  };
}

/** Writes `bytes` to `path` through a temporary file; a failure only costs the cache. */
async function populate(dir: string, path: string, bytes: Buffer): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(temp, bytes, { mode: 0o600 });
    await rename(temp, path);
  } catch {
    await rm(temp, { force: true }).catch(() => undefined);
  }
}
