/**
 * Dependency packages: shared or proprietary code a run receives through DAGY_DEP_PACKAGE_URIS
 * (zip or tar.gz in S3). Each is downloaded, extracted safely (no entry or link escaping the
 * target folder, size and entry limits; a refusal fails the run with a message naming the
 * entry), its npm dependencies installed when they are declared but not vendored, and made
 * resolvable from the flow's code. Layout (docs/dependency-packages.md):
 *
 *   <workDir>/node_modules/<name>/      the package root (archive root, or its one top folder
 *                                       when that folder holds the package.json)
 *
 * where <name> is package.json's "name", else the archive's file name without extension.
 * Node paths given to the flow loader, in order:
 *   1. <workDir>/node_modules           -> require("my-deps"), require("my-deps/helpers")
 *   2. each package root                -> its top-level folders and files as modules
 *                                          (require("custom_module")), like the guide's sys.path
 *   3. each package's node_modules      -> its npm dependencies (require("lodash"))
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import * as path from "node:path";
import { ArtifactError } from "../errors";
import type { ObjectStore } from "../storage/object-store";

export interface InstalledDepPackage {
  readonly uri: string;
  /** The name the package is resolvable by. */
  readonly name: string;
  /** Absolute path of the package root. */
  readonly dir: string;
  /** True when `npm install` ran for it. */
  readonly installedDependencies: boolean;
}

export interface DepPackageInstallResult {
  readonly packages: readonly InstalledDepPackage[];
  /** Give these to `loadArtifact({ extraNodePaths })`. */
  readonly nodePaths: readonly string[];
}

/** Runs `npm install` in a directory; the seam for tests and offline machines. */
export type NpmInstaller = (packageDir: string) => Promise<void>;

export interface InstallDepPackagesOptions {
  readonly uris: readonly string[];
  readonly store: Pick<ObjectStore, "get">;
  /** A directory owned by this run; packages go under `<workDir>/node_modules`. */
  readonly workDir: string;
  readonly npmInstall?: NpmInstaller;
  /** Progress lines (one per package). */
  readonly onProgress?: (message: string, fields: Record<string, unknown>) => void;
}

export class DepPackageError extends ArtifactError {}

/** npm package names, including scoped ones (`@acme/shared`). */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i;

interface PackageJson {
  name?: unknown;
  dependencies?: unknown;
}

async function readPackageJson(dir: string, uri: string): Promise<PackageJson | undefined> {
  const file = path.join(dir, "package.json");
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("not a JSON object");
    }
    return parsed;
  } catch (error) {
    throw new DepPackageError(
      `dependency package ${uri}: package.json is invalid: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** `s3://b/dep-packages/my-deps.tar.gz` -> `my-deps`. */
export function packageNameFromUri(uri: string): string {
  const base = uri.slice(uri.lastIndexOf("/") + 1);
  return base.replace(/\.(zip|tar\.gz|tgz)$/i, "");
}

/**
 * The package root inside an extracted archive: the archive root, or — for archives made with
 * `zip -r my-deps.zip my-deps/` — its only entry when that is a folder holding package.json.
 */
async function findPackageRoot(extracted: string): Promise<string> {
  if (existsSync(path.join(extracted, "package.json"))) return extracted;
  const entries = await readdir(extracted, { withFileTypes: true });
  const [only, ...rest] = entries;
  if (
    only !== undefined &&
    rest.length === 0 &&
    only.isDirectory() &&
    existsSync(path.join(extracted, only.name, "package.json"))
  ) {
    return path.join(extracted, only.name);
  }
  return extracted;
}

function hasDependencies(pkg: PackageJson | undefined): boolean {
  const deps = pkg?.dependencies;
  return deps !== null && typeof deps === "object" && Object.keys(deps).length > 0;
}

/** The default installer: production dependencies only, no lifecycle scripts, no network chatter. */
export const npmInstall: NpmInstaller = (packageDir) =>
  new Promise((resolve, reject) => {
    execFile(
      "npm",
      ["install", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock"],
      {
        cwd: packageDir,
        timeout: 10 * 60 * 1000,
        maxBuffer: 16 * 1024 * 1024,
        // npm's cache must be writable by the worker's non-root user.
        env: { ...process.env, npm_config_cache: path.join(packageDir, "..", ".npm-cache") },
      },
      (error, _stdout, stderr) => {
        if (error) {
          const detail = String(stderr).trim().split("\n").slice(-15).join("\n");
          reject(new Error(`${error.message}${detail ? `\n${detail}` : ""}`));
        } else {
          resolve();
        }
      },
    );
  });

/**
 * Installs every package, in order. Throws DepPackageError (an ArtifactError) naming the URI
 * and the reason; the worker fails the run with that message.
 */
export async function installDepPackages(
  options: InstallDepPackagesOptions,
): Promise<DepPackageInstallResult> {
  const modulesDir = path.join(options.workDir, "node_modules");
  const stagingDir = path.join(options.workDir, ".staging");
  await mkdir(modulesDir, { recursive: true });
  const installer = options.npmInstall ?? npmInstall;
  const packages: InstalledDepPackage[] = [];

  for (const [index, uri] of options.uris.entries()) {
    // Loaded here, not at the top: archive extraction (tar, fflate) is only needed by runs that
    // have dependency packages, and keeping it off the worker's start path saves every other run
    // its load time.
    const { archiveFormatFromUri, extractArchive } = await import("../storage/archive");
    let format: "zip" | "tar.gz";
    try {
      format = archiveFormatFromUri(uri);
    } catch (error) {
      throw new DepPackageError(
        `dependency package ${uri}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    let bytes: Buffer;
    try {
      bytes = await options.store.get(uri);
    } catch (error) {
      throw new DepPackageError(
        `dependency package ${uri} could not be downloaded: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const extracted = path.join(stagingDir, String(index));
    try {
      await extractArchive(bytes, format, extracted);
    } catch (error) {
      throw new DepPackageError(
        `dependency package ${uri} was refused: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }

    const root = await findPackageRoot(extracted);
    const pkg = await readPackageJson(root, uri);
    const name = typeof pkg?.name === "string" ? pkg.name : packageNameFromUri(uri);
    if (!PACKAGE_NAME.test(name)) {
      throw new DepPackageError(
        `dependency package ${uri}: name ${JSON.stringify(name)} is not a valid npm package name ` +
          `(letters, digits, '.', '_', '~', '-', optionally @scope/)`,
      );
    }
    if (packages.some((p) => p.name === name)) {
      throw new DepPackageError(
        `dependency package ${uri}: another package in this run is also named "${name}"`,
      );
    }
    const dir = path.join(modulesDir, ...name.split("/"));
    await mkdir(path.dirname(dir), { recursive: true });
    await rename(root, dir);

    let installedDependencies = false;
    if (hasDependencies(pkg) && !existsSync(path.join(dir, "node_modules"))) {
      options.onProgress?.(`installing npm dependencies of ${name}`, { package: name, uri });
      try {
        await installer(dir);
      } catch (error) {
        throw new DepPackageError(
          `dependency package ${uri}: npm install failed: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      installedDependencies = true;
    }
    packages.push({ uri, name, dir, installedDependencies });
    options.onProgress?.(`dependency package ${name} installed`, {
      package: name,
      uri,
      bytes: bytes.length,
      npm_install: installedDependencies,
    });
  }
  await rm(stagingDir, { recursive: true, force: true });

  const nodePaths = [modulesDir, ...packages.map((p) => p.dir)];
  for (const p of packages) {
    const nested = path.join(p.dir, "node_modules");
    if ((await stat(nested).catch(() => undefined))?.isDirectory()) nodePaths.push(nested);
  }
  return { packages, nodePaths };
}
