import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** A fresh directory under the OS temp dir; removed by `cleanup`. */
export async function tempDir(prefix = "dagy-build-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function cleanup(dirs: string[]): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** Writes files (path -> content) under `root`, creating directories. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/**
 * A copy of the repo's examples (flows + data) with the project files esbuild reads
 * (package.json, and tsconfig.json, whose compiler options shape the bundle), at `dest`.
 */
export async function copyExamples(dest: string): Promise<void> {
  await cp(path.join(REPO_ROOT, "examples"), path.join(dest, "examples"), { recursive: true });
  for (const file of ["package.json", "tsconfig.json"]) {
    await cp(path.join(REPO_ROOT, file), path.join(dest, file));
  }
}

export function zipEntries(zip: Uint8Array): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, bytes] of Object.entries(unzipSync(zip))) out[name] = Buffer.from(bytes);
  return out;
}
