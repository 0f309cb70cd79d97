/**
 * The warm fallback (issue #14): a warm dispatch also sends `{"v":1,"run_id","org_id","pool"}`
 * to a delayed queue. When it becomes visible, a run that is still QUEUED on the warm
 * placeholder (`warm:<pool>:<runId>`: no worker claimed it — the pool's count was stale, the
 * worker died, the queue was slow) is launched cold; anything else is left alone.
 *
 * Exactly once, however often the message arrives and whatever a warm worker does meanwhile:
 * 1. one conditional write takes the run over — still QUEUED, current task still the
 *    placeholder, no cancel requested — closing the warm attempt as `unclaimed` and clearing
 *    the current task (RunRepository.beginRelaunch, from QUEUED only). A second delivery, or a
 *    worker whose claim landed first (its claim moves the run to RUNNING on its own task),
 *    fails this condition and nothing happens;
 * 2. DagLauncher.relaunch starts attempt 2 cold and records it on condition that the run has
 *    no current task and one attempt. A warm worker that claims between 1 and 2 writes its own
 *    task: the recording fails and the launcher stops the cold task at once (and a cold worker
 *    that does start finds the run RUNNING and exits without running it).
 * The unclaimed attempt does not count against the run's relaunch budget: no task failed.
 */
import type { RunRecord } from "../persistence/records";
import type { RunRepository } from "../persistence/runs";
import { isWarmTaskArn, poolOfWarmTaskArn, validatePoolName } from "../persistence/warm-pools";
import { validateOrgId, validateRunId } from "../identifiers";
import type { JsonLogger } from "../log";
import type { NextAttempt } from "./heal";
import type { RelaunchRun } from "./types";
import type { WorkloadProfile } from "../launcher/types";

export interface WarmFallbackRequest {
  readonly runId: string;
  readonly orgId: string;
  readonly pool: string;
}

/** Parses a fallback message body; the problem as a string when it is not one. */
export function parseWarmFallbackBody(body: string | undefined): WarmFallbackRequest | string {
  if (typeof body !== "string" || body.length === 0) return "body: empty";
  if (body.length > 4096) return "body: longer than 4096 characters";
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "body: not JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return "body: must be a JSON object";
  }
  const m = parsed as Record<string, unknown>;
  const extra = Object.keys(m).filter((k) => !["v", "run_id", "org_id", "pool"].includes(k));
  if (extra.length > 0) return `body: unknown field(s) ${extra.slice(0, 5).join(", ")}`;
  if (m.v !== 1) return `v: unsupported version ${JSON.stringify(m.v) ?? "(missing)"}`;
  try {
    return {
      runId: validateRunId(m.run_id),
      orgId: validateOrgId(m.org_id),
      pool: validatePoolName(m.pool),
    };
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export type WarmFallbackAction =
  /** Nobody claimed it: the run was launched cold. */
  | "relaunched_cold"
  /** Nobody claimed it and the cold launch failed: the run is FAILED with the reason. */
  | "failed"
  /** A warm worker claimed it (or it moved on otherwise): nothing to do. */
  | "claimed"
  /** The run is no longer on this warm dispatch (already fallen back, cancelled, finished). */
  | "not_warm"
  /** No such run, or the message names another org than the run's: dropped. */
  | "unknown_run";

export interface WarmFallbackOutcome {
  readonly runId: string;
  readonly action: WarmFallbackAction;
  readonly status?: RunRecord["status"];
  readonly taskArn?: string;
  readonly errorMessage?: string;
}

export interface WarmFallbackDependencies {
  readonly runs: Pick<RunRepository, "get" | "beginRelaunch" | "transition">;
  /** DagLauncher#relaunch: starts the next attempt (cold: relaunches never go warm). */
  readonly relaunch: RelaunchRun;
  readonly logger?: JsonLogger;
  readonly now?: () => Date;
}

/** The resources of the warm attempt, for its cold successor: the same size. */
function sameResources(run: RunRecord): NextAttempt {
  const last = run.attempts?.[run.attempts.length - 1];
  const profile = last?.workload_profile ?? run.workload_profile;
  return {
    ...(profile !== undefined ? { workloadProfile: profile as WorkloadProfile } : {}),
    cpu: last?.cpu ?? run.cpu ?? "",
    memory: last?.memory ?? run.memory ?? "",
    capacityProvider: last?.capacity_provider ?? run.capacity_provider ?? "FARGATE",
  };
}

/**
 * Launches the run cold when its warm dispatch was never claimed (see the file comment).
 * Idempotent. Throws only on I/O errors (the caller retries the message).
 */
export async function fallBackToCold(
  request: WarmFallbackRequest,
  deps: WarmFallbackDependencies,
): Promise<WarmFallbackOutcome> {
  const { runs, logger } = deps;
  const log = logger?.child({ run_id: request.runId, org_id: request.orgId, pool: request.pool });
  const run = await runs.get(request.runId);
  if (!run || run.org_id !== request.orgId) {
    log?.warn("warm fallback names an unknown run; dropped");
    return { runId: request.runId, action: "unknown_run" };
  }
  if (run.status !== "QUEUED") {
    return { runId: run.run_id, action: "claimed", status: run.status };
  }
  const placeholder = run.task_arn;
  if (!isWarmTaskArn(placeholder) || poolOfWarmTaskArn(placeholder) !== request.pool) {
    return { runId: run.run_id, action: "not_warm", status: run.status };
  }
  const stoppedAt = (deps.now?.() ?? new Date()).toISOString();
  const reason = `no warm worker of pool ${request.pool} claimed the run; launched cold`;
  const attempts = (run.attempts ?? []).map((a) =>
    a.task_arn === placeholder ? { ...a, stopped_at: stoppedAt, outcome: "unclaimed", reason } : a,
  );
  const queued = await runs.beginRelaunch(run.run_id, placeholder, attempts, run.relaunches ?? 0, {
    from: ["QUEUED"],
  });
  if (!queued) {
    // A worker's claim (or a cancel, or another delivery of this message) got there first.
    const current = await runs.get(run.run_id);
    return {
      runId: run.run_id,
      action: current?.status === "QUEUED" ? "not_warm" : "claimed",
      ...(current ? { status: current.status } : {}),
    };
  }
  try {
    const started = await deps.relaunch(queued, sameResources(run));
    log?.warn("warm dispatch unclaimed: run launched cold", {
      event_type: "warm_fallback",
      new_task_arn: started.taskArn,
    });
    return {
      runId: run.run_id,
      action: "relaunched_cold",
      status: "QUEUED",
      taskArn: started.taskArn,
    };
  } catch (error) {
    const errorMessage = `${reason}, but the cold launch failed: ${error instanceof Error ? error.message : String(error)}`;
    const failed = await runs.transition(run.run_id, "QUEUED", "FAILED", {
      error_message: errorMessage,
      stop_reason: "WARM_UNCLAIMED",
    });
    log?.warn("run failed: warm dispatch unclaimed and the cold launch failed", {
      error_message: errorMessage,
    });
    return failed
      ? { runId: run.run_id, action: "failed", status: "FAILED", errorMessage }
      : { runId: run.run_id, action: "claimed" };
  }
}

/** An SQS event as Lambda delivers it (the fields read here). */
export interface SqsEventRecord {
  readonly messageId: string;
  readonly body: string;
}

/** Lambda's partial batch response: the messages to retry. */
export interface SqsBatchResponse {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

/**
 * Handles one SQS event of fallback messages. A garbled body is logged and dropped (a retry
 * would not fix it); an I/O error reports its record in `batchItemFailures`, so Lambda returns
 * only that message to the queue (event source mapping with ReportBatchItemFailures:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
 */
export async function handleWarmFallbackEvent(
  event: unknown,
  deps: WarmFallbackDependencies,
): Promise<SqsBatchResponse> {
  const records = (event as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records)) {
    deps.logger?.warn("not an SQS event; ignored", { event_type: "warm_fallback_refused" });
    return { batchItemFailures: [] };
  }
  const failures: { itemIdentifier: string }[] = [];
  for (const record of records as unknown[]) {
    const r = record as Partial<SqsEventRecord> | null;
    const messageId = typeof r?.messageId === "string" ? r.messageId : undefined;
    const parsed = parseWarmFallbackBody(typeof r?.body === "string" ? r.body : undefined);
    if (typeof parsed === "string") {
      deps.logger?.warn("warm fallback message refused; dropped", {
        event_type: "warm_fallback_refused",
        message_id: messageId,
        problem: parsed,
      });
      continue;
    }
    try {
      await fallBackToCold(parsed, deps);
    } catch (error) {
      deps.logger?.warn("warm fallback failed; the message will be retried", {
        run_id: parsed.runId,
        message_id: messageId,
        error: error instanceof Error ? error.message : String(error),
      });
      if (messageId !== undefined) failures.push({ itemIdentifier: messageId });
    }
  }
  return { batchItemFailures: failures };
}

/**
 * The sweep's view of a warm dispatch (lib/reconcile/service.ts): a run still QUEUED on its
 * placeholder long after the fallback should have fired (its message lost, or its consumer
 * failing) takes the same path — launched cold, or FAILED with the reason when the sweep
 * cannot relaunch. The caller checks the run is stale enough: queuedAfterMs (15 minutes by
 * default) is never shorter than SQS's longest message delay (900 s), so the sweep does not
 * pre-empt a fallback that is still on its way.
 */
export async function settleStaleWarmDispatch(
  run: RunRecord & { task_arn: string },
  deps: Omit<WarmFallbackDependencies, "relaunch"> & { readonly relaunch?: RelaunchRun },
): Promise<WarmFallbackOutcome> {
  const pool = poolOfWarmTaskArn(run.task_arn) ?? "";
  if (deps.relaunch) {
    return fallBackToCold(
      { runId: run.run_id, orgId: run.org_id, pool },
      { ...deps, relaunch: deps.relaunch },
    );
  }
  const errorMessage = `no warm worker of pool ${pool} claimed the run, and no cold launch was possible here`;
  const failed = await deps.runs.transition(
    run.run_id,
    "QUEUED",
    "FAILED",
    { error_message: errorMessage, stop_reason: "WARM_UNCLAIMED" },
    { taskArn: run.task_arn },
  );
  return failed
    ? { runId: run.run_id, action: "failed", status: "FAILED", errorMessage }
    : { runId: run.run_id, action: "claimed" };
}
