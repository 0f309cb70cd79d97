/**
 * The embedded default's names and its data directory layout, shared by the platform (which
 * writes them) and the CLI (which finds the running platform through them). Kept free of
 * heavy imports: every `dagy` command loads this file.
 *
 *   <dataDir>/dynamodb/        dynalite's store (LevelDB; one process at a time)
 *   <dataDir>/s3/              s3rver's buckets
 *   <dataDir>/logs/<run>.log   each run's worker output (JSON lines), read by `dagy logs`
 *   <dataDir>/secrets.json     {"<secret ARN>": "<value>"}: local stand-in for Secrets Manager
 *   <dataDir>/schedules.json   schedules created with `dagy schedules create` / POST /schedules
 *   <dataDir>/platform.json    where the running platform listens (removed when it stops)
 *   <dataDir>/manifest.json    what the stores hold (tables and buckets, with item counts),
 *                              so a store deleted behind the platform's back is noticed
 *   <dataDir>/build/           the bundled worker (cached)
 *
 * Run data is private: folders 0700, files 0600.
 */
import { existsSync, readFileSync } from "node:fs";
import { chmod, readdir, rm, stat, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { ConfigurationError } from "../errors";

export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = ".dagy";
export const DEFAULT_HOST = "127.0.0.1";
/** The org the example flows are registered for (the guide's). */
export const DEFAULT_ORG = "acme-corp";
export const DEFAULT_CONCURRENCY = 4;
/** Idle warm workers kept per worker size by default (`--warm`, issue #14). */
export const DEFAULT_WARM = 2;
/** More idle workers than this is a typo, not a pool: each is a Node process. */
export const MAX_WARM = 32;
export const LOCAL_REGION = "us-east-1";
export const LOCAL_TABLE_PREFIX = "dagy-local";
export const LOCAL_ARTIFACT_BUCKET = "dagy-local-artifacts";
export const LOCAL_TRACES_BUCKET = "dagy-local-traces";
/** The environment local launches get when the request names none. */
export const LOCAL_ENVIRONMENT = "local";

export const PLATFORM_STATE_FILE = "platform.json";
export const MANIFEST_FILE = "manifest.json";
export const DYNAMODB_DIR = "dynamodb";
export const S3_DIR = "s3";
/** Mode of run data folders and files. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

export function logDirOf(dataDir: string): string {
  return join(dataDir, "logs");
}

export function schedulesFileOf(dataDir: string): string {
  return join(dataDir, "schedules.json");
}

/** What the running local platform records about itself, for the CLI. */
export interface PlatformState {
  readonly pid: number;
  readonly apiUrl: string;
  readonly dynamodbEndpoint: string;
  readonly s3Endpoint: string;
  readonly region: string;
  readonly tablePrefix: string;
  readonly artifactBucket: string;
  readonly tracesBucket: string;
  readonly logDir: string;
  readonly startedAt: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** `<dataDir>/platform.json` when the process it names is still alive. */
export function readPlatformState(dataDir: string): PlatformState | undefined {
  const file = join(dataDir, PLATFORM_STATE_FILE);
  if (!existsSync(file)) return undefined;
  let state: PlatformState;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as PlatformState;
  } catch {
    return undefined;
  }
  return typeof state.pid === "number" && isAlive(state.pid) ? state : undefined;
}

/** Writes JSON atomically (temp file, then rename), readable by this user only. */
async function writePrivateJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, {
    encoding: "utf8",
    mode: PRIVATE_FILE_MODE,
  });
  await rename(tmp, file);
}

export async function writePlatformState(dataDir: string, state: PlatformState): Promise<void> {
  await writePrivateJson(join(dataDir, PLATFORM_STATE_FILE), state);
}

// ---------------------------------------------------------------------------------------------
// The data manifest: the platform records what its stores hold; at the next start a store that
// is gone (a folder partly or wholly deleted) is refused by name instead of silently
// recreated empty. Starting afresh is explicit: `dagy dev --reset`, or deleting the folder.

export interface DataManifest {
  readonly format: 1;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Table name -> items when the manifest was written. */
  readonly tables: Readonly<Record<string, number>>;
  /** Bucket name -> objects when the manifest was written. */
  readonly buckets: Readonly<Record<string, number>>;
}

/** The manifest, undefined when there is none; a manifest that cannot be read is damage. */
export function readDataManifest(dataDir: string): DataManifest | undefined {
  const file = join(dataDir, MANIFEST_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<DataManifest>;
    if (
      parsed.format !== 1 ||
      typeof parsed.tables !== "object" ||
      parsed.tables === null ||
      typeof parsed.buckets !== "object" ||
      parsed.buckets === null
    ) {
      throw new Error("not a Dagy data manifest");
    }
    return parsed as DataManifest;
  } catch (error) {
    throw new DamagedDataError(dataDir, [
      `${MANIFEST_FILE} (unreadable: ${(error as Error).message})`,
    ]);
  }
}

export async function writeDataManifest(dataDir: string, manifest: DataManifest): Promise<void> {
  await writePrivateJson(join(dataDir, MANIFEST_FILE), manifest);
}

/** The data directory no longer holds what its manifest says. */
export class DamagedDataError extends ConfigurationError {
  constructor(
    readonly dataDir: string,
    readonly missing: readonly string[],
  ) {
    super(
      `the local data in ${dataDir} is damaged: missing ${missing.join(", ")}. ` +
        "Refusing to start with empty stores. Restore the folder, or start afresh with " +
        "`dagy dev --reset` (deletes the stored flows, runs, logs and schedules) or by deleting " +
        `${dataDir} yourself.`,
    );
  }
}

const isDir = async (path: string): Promise<boolean> =>
  (await stat(path).catch(() => undefined))?.isDirectory() === true;

/** dynalite's LevelDB store is there (LevelDB always keeps a CURRENT file). */
function hasDynamoStore(dataDir: string): boolean {
  return existsSync(join(dataDir, DYNAMODB_DIR, "CURRENT"));
}

/**
 * What the files of the data directory lack, before any server starts (a server would create
 * an empty store in place of a missing one). With no manifest: a directory without stores is
 * fresh; one with a DynamoDB store predates manifests and is adopted; one with other data but
 * no DynamoDB store is damaged.
 */
export async function missingDataFiles(
  dataDir: string,
  manifest: DataManifest | undefined,
): Promise<string[]> {
  if (manifest === undefined) {
    if (hasDynamoStore(dataDir)) return [];
    const leftovers = [S3_DIR, "schedules.json"].filter((name) => existsSync(join(dataDir, name)));
    return leftovers.length === 0
      ? []
      : [`${DYNAMODB_DIR}/ (the DynamoDB store; ${leftovers.join(" and ")} remain)`];
  }
  const missing: string[] = [];
  if (!hasDynamoStore(dataDir)) missing.push(`${DYNAMODB_DIR}/ (the DynamoDB store)`);
  for (const bucket of Object.keys(manifest.buckets)) {
    if (!(await isDir(join(dataDir, S3_DIR, bucket))))
      missing.push(`${S3_DIR}/${bucket}/ (bucket)`);
  }
  return missing;
}

/**
 * The checks to run before a server opens the data directory's stores: returns its manifest
 * (undefined for a fresh or pre-manifest directory), or throws DamagedDataError naming what is
 * missing.
 */
export async function checkDataFiles(dataDir: string): Promise<DataManifest | undefined> {
  const manifest = readDataManifest(dataDir);
  const missing = await missingDataFiles(dataDir, manifest);
  if (missing.length > 0) throw new DamagedDataError(dataDir, missing);
  return manifest;
}

/** Data a reset deletes. Secrets (secrets.json) and the worker build cache stay. */
const RESET_ENTRIES = [DYNAMODB_DIR, S3_DIR, "logs", "schedules.json", MANIFEST_FILE];

/** Deletes the stores, logs and schedules of a data directory: `dagy dev --reset`. */
export async function resetDataDir(dataDir: string): Promise<void> {
  for (const name of RESET_ENTRIES) {
    await rm(join(dataDir, name), { recursive: true, force: true });
  }
}

/**
 * Folders 0700 and files 0600 for the run data already there (created by an older version, or
 * under a permissive umask). Other entries (the worker build cache) are left alone.
 */
export async function restrictDataPermissions(dataDir: string): Promise<void> {
  const chmodIf = (path: string, mode: number) => chmod(path, mode).catch(() => undefined);
  await chmodIf(dataDir, PRIVATE_DIR_MODE);
  for (const dir of [DYNAMODB_DIR, S3_DIR, "logs"]) {
    await chmodIf(join(dataDir, dir), PRIVATE_DIR_MODE);
  }
  for (const file of ["schedules.json", "secrets.json", PLATFORM_STATE_FILE, MANIFEST_FILE]) {
    await chmodIf(join(dataDir, file), PRIVATE_FILE_MODE);
  }
  const logs = await readdir(join(dataDir, "logs")).catch(() => [] as string[]);
  for (const log of logs) await chmodIf(join(dataDir, "logs", log), PRIVATE_FILE_MODE);
}

/** Removes the state file if it is this process's. */
export async function removePlatformState(dataDir: string, pid: number): Promise<void> {
  const file = join(dataDir, PLATFORM_STATE_FILE);
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as PlatformState;
    if (state.pid !== pid) return;
  } catch {
    return;
  }
  await rm(file, { force: true });
}
