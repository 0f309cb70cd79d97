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
 *   <dataDir>/build/           the bundled worker (cached)
 */
import { existsSync, readFileSync } from "node:fs";
import { rm, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";

export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = ".dagy";
export const DEFAULT_HOST = "127.0.0.1";
/** The org the example flows are registered for (the guide's). */
export const DEFAULT_ORG = "acme-corp";
export const DEFAULT_CONCURRENCY = 4;
export const LOCAL_REGION = "us-east-1";
export const LOCAL_TABLE_PREFIX = "dagy-local";
export const LOCAL_ARTIFACT_BUCKET = "dagy-local-artifacts";
export const LOCAL_TRACES_BUCKET = "dagy-local-traces";
/** The environment local launches get when the request names none. */
export const LOCAL_ENVIRONMENT = "local";

export const PLATFORM_STATE_FILE = "platform.json";

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

export async function writePlatformState(dataDir: string, state: PlatformState): Promise<void> {
  const file = join(dataDir, PLATFORM_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, "utf8");
  await rename(tmp, file);
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
