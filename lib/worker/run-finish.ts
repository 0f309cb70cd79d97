/**
 * The final status write: RUNNING -> SUCCEEDED, FAILED or CANCELLED, conditionally, with the
 * last task states and outputs riding in it when few enough, retried a few times; and the
 * traceback object a FAILED run points to.
 */
import type { JsonLogger, Redact } from "../log";
import type { RunRecord } from "../persistence/records";
import type { TransitionOptions } from "../persistence/runs";
import { realSleep, withRetries, type RetryPolicy } from "../retry";
// Module by module, not the storage index: that one pulls in archive extraction (tar), which
// only a run with dependency packages needs, and which would cost every cold start its load.
import { tracebackKey } from "../storage/keys";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri } from "../storage/s3-uri";
import type { WorkerConfig } from "./config";
import {
  EXIT_CODES,
  message,
  type ExitCode,
  type WorkerOutcome,
  type WorkerRunStore,
} from "./run-outcome";
import { formatTraceback, type TaskFailureRecord } from "./traceback";

/** What the final status write carries besides the status (TransitionOptions' fields). */
export type ClosingRecords = Required<Pick<TransitionOptions, "taskStates" | "taskOutputs">>;

export type FinalStatus = "SUCCEEDED" | "FAILED" | "CANCELLED";

/** The final status write: a few quick attempts, well inside ECS's stop timeout. */
const FINISH_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 400 };

/** What finishRun writes through and tells. */
export interface FinishContext {
  readonly runs: Pick<WorkerRunStore, "get" | "transition">;
  readonly runId: string;
  readonly logger: JsonLogger;
  readonly recorder: { written(ids: readonly string[]): void; flush(): Promise<void> };
  readonly outputs: { written(ids: readonly string[]): void; flush(): Promise<void> };
  /** Called once the status is on record (the host marks its timing). */
  readonly onRecorded: () => void;
}

/** RUNNING -> status, conditionally, retrying transient errors a few times. */
export async function finishRun(
  ctx: FinishContext,
  status: FinalStatus,
  exitCode: ExitCode,
  fields: Partial<RunRecord>,
  closing: ClosingRecords | undefined,
): Promise<WorkerOutcome> {
  const { runs, runId, logger } = ctx;
  const completedAt = new Date().toISOString();
  const all: Partial<RunRecord> = { ...fields, completed_at: completedAt, exit_code: exitCode };
  if (closing !== undefined) {
    const updated = await runs
      .transition(runId, "RUNNING", status, all, closing)
      // The item size limit, say: they are written apart below, then the status.
      .catch(() => undefined);
    if (updated !== undefined) {
      ctx.recorder.written(Object.keys(closing.taskStates));
      ctx.outputs.written(Object.keys(closing.taskOutputs.entries));
      return recorded(ctx, status, exitCode, fields);
    }
    await Promise.all([ctx.recorder.flush(), ctx.outputs.flush()]);
  }
  const attempts = FINISH_RETRY.maxAttempts;
  return withRetries(
    async () => {
      const updated = await runs.transition(runId, "RUNNING", status, all);
      if (updated === undefined) {
        // Someone else closed it (a cancel, the reconciliation sweep): theirs stands.
        const current = await runs.get(runId);
        logger.warn(`run is already ${current?.status ?? "gone"}; ${status} was not recorded`, {
          event_type: "run_status_conflict",
          status: current?.status,
        });
        return {
          exitCode: current?.status === "CANCELLED" ? EXIT_CODES.cancelled : exitCode,
          ...(current?.status !== undefined ? { status: current.status } : {}),
          ...(fields.error_message ? { errorMessage: fields.error_message } : {}),
        };
      }
      return recorded(ctx, status, exitCode, fields);
    },
    FINISH_RETRY,
    {
      sleep: realSleep,
      random: Math.random,
      // Any error: the run must not stay RUNNING because of one bad moment.
      isRetryable: () => true,
      onRetry: (error, attempt) =>
        logger.warn(`recording ${status} failed (attempt ${attempt} of ${attempts})`, {
          event_type: "worker_error",
          error: message(error),
        }),
    },
  );
}

function recorded(
  ctx: FinishContext,
  status: FinalStatus,
  exitCode: ExitCode,
  fields: Partial<RunRecord>,
): WorkerOutcome {
  ctx.onRecorded();
  ctx.logger.info(`run ${status.toLowerCase()}`, {
    event_type: "run_recorded",
    status,
    exit_code: exitCode,
  });
  return {
    exitCode,
    status,
    ...(fields.error_message ? { errorMessage: fields.error_message } : {}),
  };
}

/** What uploadTraceback writes and tells. */
export interface TracebackContext {
  readonly config: Pick<
    WorkerConfig,
    "runId" | "orgId" | "flowName" | "flowVersion" | "tracesBucket"
  >;
  readonly store: Pick<ObjectStore, "put">;
  readonly logger: JsonLogger;
  readonly redact: Redact;
}

/**
 * Uploads the run's traceback (redacted) to the traces bucket: its URI, or undefined when the
 * upload failed (logged; the run is still recorded FAILED).
 */
export async function uploadTraceback(
  ctx: TracebackContext,
  errorMessage: string,
  exitCode: ExitCode,
  cause: unknown,
  taskFailures: readonly TaskFailureRecord[],
): Promise<string | undefined> {
  const { config, logger } = ctx;
  const key = tracebackKey(config.orgId, config.runId);
  const uri = formatS3Uri(config.tracesBucket, key);
  const text = ctx.redact(
    formatTraceback({
      runId: config.runId,
      orgId: config.orgId,
      flowName: config.flowName,
      flowVersion: config.flowVersion,
      failedAt: new Date().toISOString(),
      summary: errorMessage,
      ...(exitCode !== EXIT_CODES.flowFailed && cause !== undefined ? { workerError: cause } : {}),
      taskFailures,
    }),
  );
  try {
    await ctx.store.put(uri, text, { contentType: "text/plain; charset=utf-8" });
    logger.info("traceback uploaded", {
      event_type: "traceback_uploaded",
      traceback_uri: uri,
    });
    return uri;
  } catch (error) {
    logger.error("could not upload the traceback", {
      event_type: "worker_error",
      traceback_uri: uri,
      error: message(error),
    });
    return undefined;
  }
}
