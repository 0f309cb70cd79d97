/**
 * What a local worker process is given: the platform variables it starts with (inherited ones,
 * region, local endpoints and credentials), its heap limit, and its secrets resolved from the
 * local secrets file. Shared by cold starts and the warm pool (./local-backend.ts).
 */
import { readFileSync } from "node:fs";
import { LOCAL_CREDENTIALS } from "../aws/dynamodb";
import { WORKER_EXTRA_ENV } from "../worker/config";
import { TaskSubmissionError } from "./errors";
import type { LocalBackendOptions } from "./local-backend-options";

/**
 * The Node heap a worker gets for a task size: three quarters of the memory (MiB), leaving the
 * rest for code, buffers and native memory as in a container of that size.
 */
export function heapLimitMib(memory: string): number | undefined {
  const mib = Number(memory);
  return Number.isFinite(mib) && mib > 0 ? Math.floor(mib * 0.75) : undefined;
}

/**
 * Adds the heap limit for `memory` to `env`'s NODE_OPTIONS (unless `enforceMemory` is false);
 * returns `env`.
 */
export function withHeapLimit(
  env: Record<string, string>,
  memory: string,
  enforceMemory: boolean | undefined,
): Record<string, string> {
  const heap = enforceMemory === false ? undefined : heapLimitMib(memory);
  if (heap !== undefined) {
    env.NODE_OPTIONS = [env.NODE_OPTIONS, `--max-old-space-size=${heap}`].filter(Boolean).join(" ");
  }
  return env;
}

/** Variables a worker inherits from this process by default (never AWS credentials). */
export const DEFAULT_INHERITED = [
  "PATH",
  "HOME",
  "TMPDIR",
  "TEMP",
  "TMP",
  "SystemRoot",
  "LANG",
  "TZ",
  "NODE_OPTIONS",
  // The local platform runs on the developer's Node (20+); the worker image runs Node 22.
  "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED",
  // Start-up marks in the run log (diagnostics only).
  "DAGY_WORKER_TIMINGS",
];

/**
 * The platform variables every worker starts with: those it inherits from this process, the
 * region, the local endpoints and credentials, the API (`apiUrl`), the artifact cache.
 */
export function workerBaseEnv(
  options: Pick<
    LocalBackendOptions,
    "inheritEnv" | "region" | "dynamodbEndpoint" | "s3Endpoint" | "artifactCacheDir"
  >,
  apiUrl: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of options.inheritEnv ?? DEFAULT_INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.AWS_REGION = options.region ?? "us-east-1";
  // The credentials the local servers accept (dynalite takes any; s3rver only its own), so a
  // flow's own S3 client works locally as it does with a task role in AWS; never hand the
  // parent's real ones to a run.
  env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
  if (options.dynamodbEndpoint) env.DAGY_DYNAMODB_ENDPOINT = options.dynamodbEndpoint;
  if (options.s3Endpoint) env.DAGY_S3_ENDPOINT = options.s3Endpoint;
  if (apiUrl) env.DAGY_API_URL = apiUrl;
  if (options.artifactCacheDir) {
    env[WORKER_EXTRA_ENV.artifactCacheDir] = options.artifactCacheDir;
  }
  return env;
}

/** Resolves secret variables from `{"<secret ARN>": "<value>"}`: the local equivalent of ECS secret injection. */
export function resolveLocalSecrets(
  file: string | undefined,
  secretsEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  const names = Object.keys(secretsEnv);
  if (names.length === 0) return {};
  if (!file) {
    throw new TaskSubmissionError(
      `the run declares secrets (${names.join(", ")}) but no local secrets file is configured (DAGY_LOCAL_SECRETS_FILE)`,
    );
  }
  let store: unknown;
  try {
    store = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new TaskSubmissionError(
      `cannot read the local secrets file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (store === null || typeof store !== "object" || Array.isArray(store)) {
    throw new TaskSubmissionError(
      `the local secrets file ${file} must be a JSON object of ARN: value`,
    );
  }
  const values = store as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const name of names) {
    const arn = secretsEnv[name] ?? "";
    const value = values[arn];
    if (typeof value !== "string") {
      // Name the ARN and the variable, never a value.
      throw new TaskSubmissionError(
        `secret ${arn} (for ${name}) is not in the local secrets file ${file}`,
      );
    }
    out[name] = value;
  }
  return out;
}
