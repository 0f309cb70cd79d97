/**
 * What a local worker process is given: the variables it inherits from this process, its heap
 * limit, and its secrets resolved from the local secrets file — and how a spawn failure and the
 * end of its log are handled. Shared by cold starts and the warm pool (./local-backend.ts).
 */
import { readFileSync, type WriteStream } from "node:fs";
import { TaskSubmissionError } from "./errors";

/**
 * The Node heap a worker gets for a task size: three quarters of the memory (MiB), leaving the
 * rest for code, buffers and native memory as in a container of that size.
 */
export function heapLimitMib(memory: string): number | undefined {
  const mib = Number(memory);
  return Number.isFinite(mib) && mib > 0 ? Math.floor(mib * 0.75) : undefined;
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

/** The reason a spawn failed, without the values it was given (they may be secrets). */
export function startFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ERR_INVALID_ARG_VALUE" || code === "ERR_INVALID_ARG_TYPE") {
    return "the worker command or its environment is invalid";
  }
  if (error instanceof Error)
    return code !== undefined ? `${code}: ${error.message}` : error.message;
  return String(error);
}

/** Ends a log stream; resolves once it is flushed, or at once if it failed. */
export function endLog(log: WriteStream): Promise<void> {
  return new Promise((resolveEnd) => {
    if (log.destroyed || log.errored) {
      resolveEnd();
      return;
    }
    log.once("error", () => resolveEnd());
    log.end(() => resolveEnd());
  });
}
