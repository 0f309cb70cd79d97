/**
 * End-to-end set-up for worker tests: local DynamoDB and S3, a DagLauncher with LocalBackend
 * running the bundled worker (`node .dagy/build/worker.js`) as real child processes.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildFlow } from "../../lib/bundler";
import {
  DagLauncher,
  LocalBackend,
  type LocalBackendOptions,
  type LocalWorkerExit,
} from "../../lib/launcher";
import { Persistence, registerFlow, type FlowRecord, type RunRecord } from "../../lib/persistence";
import { ObjectStore } from "../../lib/storage";
import { ensureWorkerBundle } from "../../lib/worker/bundle";
import { startTestEnv, type TestEnv } from "../support/local-servers";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const FIXTURES = path.join(__dirname, "fixtures");

export interface WorkerHarness {
  readonly env: TestEnv;
  readonly launcher: DagLauncher;
  readonly backend: LocalBackend;
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  /** Scratch directory of this harness (outputs, markers, logs). */
  readonly dir: string;
  readonly secretsFile: string;
  /** Resolves with the worker's exit once the run's process has exited. */
  exited(runId: string): Promise<LocalWorkerExit>;
  /** The run's worker log (stdout and stderr). */
  log(runId: string): string;
  close(): Promise<void>;
}

export async function startWorkerHarness(
  secrets: Readonly<Record<string, string>> = {},
  backendOptions: Pick<LocalBackendOptions, "warm" | "warmSizes" | "maxConcurrent"> & {
    /** Give workers an artifact cache under the harness's directory. */
    readonly artifactCache?: boolean;
  } = {},
): Promise<WorkerHarness> {
  const [env, bundle] = await Promise.all([startTestEnv(), ensureWorkerBundle()]);
  const dir = mkdtempSync(path.join(tmpdir(), "dagy-worker-test-"));
  const secretsFile = path.join(dir, "secrets.json");
  writeFileSync(secretsFile, JSON.stringify(secrets));
  const exits = new Map<string, LocalWorkerExit>();
  const waiters = new Map<string, Array<(exit: LocalWorkerExit) => void>>();
  const backend = new LocalBackend({
    workerCommand: [process.execPath, bundle],
    cwd: dir,
    logDir: path.join(dir, "logs"),
    dynamodbEndpoint: env.endpoints.dynamodbEndpoint,
    s3Endpoint: env.endpoints.s3Endpoint,
    secretsFile,
    stopGraceMs: 10_000,
    ...(backendOptions.warm !== undefined ? { warm: backendOptions.warm } : {}),
    ...(backendOptions.warmSizes !== undefined ? { warmSizes: backendOptions.warmSizes } : {}),
    ...(backendOptions.maxConcurrent !== undefined
      ? { maxConcurrent: backendOptions.maxConcurrent }
      : {}),
    ...(backendOptions.artifactCache ? { artifactCacheDir: path.join(dir, "artifact-cache") } : {}),
    onExit: (runId, exit) => {
      exits.set(runId, exit);
      for (const resolve of waiters.get(runId) ?? []) resolve(exit);
      waiters.delete(runId);
    },
  });
  const persistence = new Persistence(env.clients.doc, env.tables);
  const store = new ObjectStore(env.clients.s3);
  const launcher = new DagLauncher(
    {
      artifactBucket: env.buckets.artifacts,
      tracesBucket: env.buckets.traces,
      tables: env.tables,
      computeBackend: "local",
      region: "us-east-1",
      dynamodbEndpoint: env.endpoints.dynamodbEndpoint,
      s3Endpoint: env.endpoints.s3Endpoint,
    },
    { persistence, store, backend, logger: { info: () => {}, warn: () => {} } },
  );
  return {
    env,
    launcher,
    backend,
    persistence,
    store,
    dir,
    secretsFile,
    exited(runId) {
      const known = exits.get(runId);
      if (known) return Promise.resolve(known);
      return new Promise((resolve) => {
        waiters.set(runId, [...(waiters.get(runId) ?? []), resolve]);
      });
    },
    log(runId) {
      const file = backend.logPath(runId);
      return existsSync(file) ? readFileSync(file, "utf8") : "";
    },
    async close() {
      await backend.close();
      await launcher.close();
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A unique org per test keeps tests independent on shared tables. */
export function newOrg(): string {
  return `org-${randomBytes(4).toString("hex")}`;
}

let registrations = 0;

/**
 * Builds a flow (a fixture name or a repo-relative path) and registers it for `orgId`, under
 * a version of its own: artifact keys are per flow and version, shared by every org.
 */
export async function registerTestFlow(
  h: WorkerHarness,
  orgId: string,
  entry: string,
): Promise<FlowRecord & { artifact: Buffer }> {
  const file = entry.includes("/")
    ? path.join(REPO_ROOT, entry)
    : path.join(FIXTURES, `${entry}.ts`);
  const version = `1.0.${Date.now()}${registrations++}`;
  const { artifact, spec } = await buildFlow({ entry: file, cwd: REPO_ROOT, version });
  const record = await registerFlow({
    persistence: h.persistence,
    store: h.store,
    artifactBucket: h.env.buckets.artifacts,
    orgId,
    spec,
    artifact,
  });
  return { ...record, artifact };
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

/** Polls the run until `done(record)`; fails with the last record and the worker log. */
export async function waitForRun(
  h: WorkerHarness,
  runId: string,
  done: (run: RunRecord) => boolean = (run) => TERMINAL.has(run.status),
  timeoutMs = 30_000,
): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  let last: RunRecord | undefined;
  while (Date.now() < deadline) {
    last = await h.persistence.runs.get(runId);
    if (last && done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `run ${runId} did not reach the expected state; last: ${JSON.stringify(last)}\nworker log:\n${h.log(runId)}`,
  );
}

/** Waits until a file exists (a task's marker). */
export async function waitForFile(file: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const text = readFileSync(file, "utf8");
      if (text.length > 0) return text;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${file} did not appear`);
}

/** The JSON objects of a worker log (lines that are not JSON are returned as `{raw}`). */
export function logLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { raw: line };
      }
    });
}
