/**
 * Runs: launch one or a batch, read, list, cancel, and read a run's log and traceback. Every
 * call names its caller; the org it acts for is decided here (lib/services/caller.ts).
 */
import { ConflictError, RunNotFoundError, ValidationError } from "../errors";
import type {
  BatchLaunchCommon,
  BatchLaunchRequest,
  CancelRunOptions,
} from "../launcher/dag-launcher";
import type { DagLaunchRequest, DagLaunchResult } from "../launcher/types";
import type { RunPage, RunListQuery } from "../persistence/runs";
import type { RunRecord } from "../persistence/records";
import { actingOrg, callerDescription, requiredOrg, type Caller } from "./caller";
import type { RunLogPage, RunLogSource, TracebackSource } from "./run-logs";
import { authorizeWorkerCancel, authorizeWorkerLaunches, workerOrg } from "./worker-calls";
import { checkSecretArns, type SecretPolicy } from "./secrets";
import { isTerminal } from "../persistence/run-state";
import { MAX_RUN_WAIT_SECONDS, pollingRunChanges, type RunChangeFeed } from "./run-changes";

const DEFAULT_RUN_CHANGES = pollingRunChanges();

/** What a batch may take inside one HTTP request (API Gateway ends requests at 30 s). */
export const DEFAULT_BATCH_TIME_BUDGET_MS = 25_000;

/** What the runs service needs from the launcher (DagLauncher satisfies it). */
export interface RunLauncher {
  launch(request: DagLaunchRequest): Promise<DagLaunchResult>;
  launchBatch(
    requests: readonly BatchLaunchRequest[],
    common: BatchLaunchCommon,
    options?: { readonly concurrency?: number; readonly timeBudgetMs?: number },
  ): Promise<DagLaunchResult[]>;
  getRunStatus(
    runId: string,
    options?: { readonly orgId?: string },
  ): Promise<RunRecord | undefined>;
  cancelRun(runId: string, options?: CancelRunOptions): Promise<RunRecord>;
  rerun(
    source: RunRecord,
    from: "start" | "failure",
    overrides?: Pick<DagLaunchRequest, "triggerSource" | "triggeredBy">,
  ): Promise<DagLaunchResult>;
}

/** A launch as a caller asks for it: the org is the caller's to claim, the trigger the edge's. */
export type LaunchInput = Omit<DagLaunchRequest, "orgId" | "triggerSource" | "triggeredBy"> & {
  readonly orgId?: string;
};

export interface BatchInput {
  readonly orgId?: string;
  readonly environment?: string;
  readonly correlationId?: string;
  readonly deploymentName?: string;
  readonly idempotencyKey?: string;
  readonly requests: readonly Omit<LaunchInput, "orgId">[];
}

export interface RunsServiceDeps {
  readonly launcher: RunLauncher;
  readonly runs: { list(query: RunListQuery): Promise<RunPage> };
  /** What launches default to (`develop`, `staging`, `production`). */
  readonly environment?: string;
  readonly logs?: RunLogSource;
  readonly tracebacks?: TracebackSource;
  /** Parallel launches in a batch. Default 10. */
  readonly batchConcurrency?: number;
  /**
   * Milliseconds a batch may take: it runs inside one HTTP request, which API Gateway ends at
   * 30 s. Default 25,000.
   */
  readonly batchTimeBudgetMs?: number;
  /** Which secrets launches may name (lib/services/secrets.ts). Default: any. */
  readonly secrets?: SecretPolicy;
  /** What a reader waiting for a run wakes on (./run-changes.ts). Default: a half-second timer. */
  readonly runChanges?: RunChangeFeed;
}

export interface ListRunsInput {
  readonly orgId?: string;
  readonly flowName?: string;
  readonly status?: RunRecord["status"];
  /** Only the children of this run (an isolated map's child runs), in launch order. */
  readonly parentRunId?: string;
  readonly limit: number;
  readonly nextToken?: string;
}

export class RunsService {
  constructor(private readonly deps: RunsServiceDeps) {}

  /** `trigger` is the edge's name for itself: `api`, `schedule`, `cli`, ... */
  async launch(caller: Caller, input: LaunchInput, trigger: string): Promise<DagLaunchResult> {
    const request = this.request(caller, input, trigger);
    if (caller.kind === "worker") {
      await authorizeWorkerLaunches(this.getRun, request.orgId, [request], () => "");
    } else if (request.parentRunId !== undefined) {
      await this.checkParent(request.orgId, request.parentRunId);
    }
    return this.deps.launcher.launch(request);
  }

  /**
   * A child run names a parent of the same org that is still active: anything else would
   * attach a run to another org's tree, or to a parent that can no longer join it.
   */
  private async checkParent(orgId: string, parentRunId: string): Promise<void> {
    const parent = await this.deps.launcher.getRunStatus(parentRunId, { orgId });
    if (!parent) {
      throw new ValidationError(`parent_run_id: run ${parentRunId} not found`, "parent_run_id");
    }
    if (parent.status !== "RUNNING" && parent.status !== "QUEUED") {
      throw new ValidationError(
        `parent_run_id: run ${parentRunId} is ${parent.status}; children are launched only for an active run`,
        "parent_run_id",
      );
    }
  }

  private readonly getRun = (runId: string, options: { readonly orgId: string }) =>
    this.deps.launcher.getRunStatus(runId, options);

  /** The org a launch acts for; a worker's is the one it names, its parent's (worker-calls.ts). */
  private launchOrg(caller: Caller, requestedOrgId: string | undefined): string {
    return caller.kind === "worker"
      ? workerOrg(requestedOrgId)
      : requiredOrg(caller, requestedOrgId);
  }

  /** Builds the launcher request a caller may make: org decided, audit trail set. */
  request(caller: Caller, input: LaunchInput, trigger: string): DagLaunchRequest {
    const orgId = this.launchOrg(caller, input.orgId);
    checkSecretArns(input.secretsEnv, this.deps.secrets ?? { arnPatterns: [] }, caller, orgId);
    const triggeredBy = callerDescription(caller);
    return {
      ...(this.deps.environment ? { environment: this.deps.environment } : {}),
      ...input,
      orgId,
      // A child of an isolated map says so, whichever edge carried its launch.
      triggerSource: input.parentRunId !== undefined ? "map" : trigger,
      ...(triggeredBy !== undefined ? { triggeredBy } : {}),
    };
  }

  async launchBatch(
    caller: Caller,
    input: BatchInput,
    trigger: string,
  ): Promise<DagLaunchResult[]> {
    const orgId = this.launchOrg(caller, input.orgId);
    const requests = input.requests.map((item, index) => {
      if ("orgId" in item) {
        throw new ValidationError(
          `requests[${index}].org_id: a batch launches for one org; set org_id once, at the top level`,
          `requests[${index}].org_id`,
        );
      }
      return this.request(
        caller,
        {
          ...(input.environment !== undefined ? { environment: input.environment } : {}),
          ...(input.deploymentName !== undefined ? { deploymentName: input.deploymentName } : {}),
          ...item,
          orgId,
          // One key per entry, so a retried batch returns the same runs.
          ...(input.idempotencyKey !== undefined
            ? { idempotencyKey: `${input.idempotencyKey}:${index}` }
            : {}),
        },
        trigger,
      );
    });
    if (caller.kind === "worker") {
      await authorizeWorkerLaunches(this.getRun, orgId, requests, (i) => `requests[${i}].`);
    } else {
      const parents = new Set(requests.flatMap((r) => (r.parentRunId ? [r.parentRunId] : [])));
      for (const parentRunId of parents) await this.checkParent(orgId, parentRunId);
    }
    return this.deps.launcher.launchBatch(
      requests,
      {
        orgId,
        ...(input.correlationId !== undefined ? { correlationId: input.correlationId } : {}),
      },
      {
        concurrency: this.deps.batchConcurrency ?? 10,
        timeBudgetMs: this.deps.batchTimeBudgetMs ?? DEFAULT_BATCH_TIME_BUDGET_MS,
      },
    );
  }

  /** A run the caller may see; anything else is the guide's 404. */
  /**
   * The run. With `waitSeconds` (at most MAX_RUN_WAIT_SECONDS), a run that is not yet terminal
   * is read again as it changes, and returned once terminal or when the wait is over (as it is
   * then: the caller asks again). Unknown, or another org's: RunNotFoundError at once.
   */
  async get(
    caller: Caller,
    runId: string,
    requestedOrgId?: string,
    options: { readonly waitSeconds?: number } = {},
  ): Promise<RunRecord> {
    const orgId = actingOrg(caller, requestedOrgId, false);
    const read = async (): Promise<RunRecord> => {
      const run = await this.deps.launcher.getRunStatus(
        runId,
        orgId !== undefined ? { orgId } : {},
      );
      if (!run) throw new RunNotFoundError(runId);
      return run;
    };
    const waitSeconds = options.waitSeconds ?? 0;
    if (!(waitSeconds > 0)) return read();
    if (waitSeconds > MAX_RUN_WAIT_SECONDS) {
      throw new ValidationError(
        `wait_seconds must be at most ${MAX_RUN_WAIT_SECONDS}`,
        "wait_seconds",
      );
    }
    const deadline = Date.now() + waitSeconds * 1000;
    // Watching before the first read: a change between the read and the wait is not missed.
    const watch = (this.deps.runChanges ?? DEFAULT_RUN_CHANGES).watch(runId);
    try {
      for (;;) {
        const run = await read();
        const left = deadline - Date.now();
        if (isTerminal(run.status) || left <= 0) return run;
        await watch.next(left);
      }
    } finally {
      watch.close();
    }
  }

  list(caller: Caller, input: ListRunsInput): Promise<RunPage> {
    const orgId = requiredOrg(caller, input.orgId);
    return this.deps.runs.list({
      orgId,
      ...(input.flowName !== undefined ? { flowName: input.flowName } : {}),
      ...(input.status !== undefined ? { status: input.status } : {}),
      ...(input.parentRunId !== undefined ? { parentRunId: input.parentRunId } : {}),
      limit: input.limit,
      ...(input.nextToken !== undefined ? { nextToken: input.nextToken } : {}),
    });
  }

  /**
   * Unknown run or another org's: RunNotFoundError (the guide's 404); terminal: conflict.
   * The run's active children (an isolated map's) are cancelled with it, at once: not only
   * when its worker gets round to it.
   */
  async cancel(
    caller: Caller,
    runId: string,
    input: { readonly orgId?: string; readonly reason?: string },
  ): Promise<RunRecord> {
    let orgId: string | undefined;
    if (caller.kind === "worker") {
      orgId = workerOrg(input.orgId);
      await authorizeWorkerCancel(this.getRun, orgId, runId);
    } else {
      orgId = actingOrg(caller, input.orgId, false);
    }
    const cancelled = await this.deps.launcher.cancelRun(runId, {
      ...(orgId !== undefined ? { orgId } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    });
    await this.cancelChildren(cancelled);
    return cancelled;
  }

  private async cancelChildren(parent: RunRecord): Promise<void> {
    const reason = `parent run ${parent.run_id} was cancelled`;
    let nextToken: string | undefined;
    do {
      const page = await this.deps.runs.list({
        orgId: parent.org_id,
        parentRunId: parent.run_id,
        limit: 100,
        ...(nextToken !== undefined ? { nextToken } : {}),
      });
      for (const child of page.items) {
        if (child.status !== "QUEUED" && child.status !== "RUNNING") continue;
        await this.deps.launcher
          .cancelRun(child.run_id, { orgId: child.org_id, reason })
          .catch((error: unknown) => {
            // Finished meanwhile: nothing to cancel.
            if (!(error instanceof ConflictError)) throw error;
          });
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
  }

  /**
   * A new run of the same flow version and parameters as a finished run, linked both ways
   * (`rerun_of`, `reruns`). From `failure`, the tasks that succeeded keep their stored outputs
   * and are not executed again. A run still active, or one that succeeded re-run from its
   * failure (there is none), is a ConflictError.
   */
  async rerun(
    caller: Caller,
    runId: string,
    input: { readonly from: "start" | "failure"; readonly orgId?: string },
    trigger = "api",
  ): Promise<DagLaunchResult> {
    const source = await this.get(caller, runId, input.orgId);
    if (source.status === "QUEUED" || source.status === "RUNNING") {
      throw new ConflictError(`run ${runId} is ${source.status}; re-run it once it has finished`);
    }
    if (input.from === "failure" && source.status === "SUCCEEDED") {
      throw new ConflictError(
        `run ${runId} SUCCEEDED: there is no failure to re-run from; re-run it from the start`,
      );
    }
    const triggeredBy = callerDescription(caller);
    return this.deps.launcher.rerun(source, input.from, {
      triggerSource: trigger,
      ...(triggeredBy !== undefined ? { triggeredBy } : {}),
    });
  }

  /** Log events of a run from `position` (opaque; absent: the beginning). */
  async logs(
    caller: Caller,
    runId: string,
    input: { readonly orgId?: string; readonly position?: string; readonly taskId?: string },
  ): Promise<RunLogPage> {
    const run = await this.get(caller, runId, input.orgId);
    if (!this.deps.logs) throw new ValidationError("logs: this deployment has no log source");
    return this.deps.logs.read(run, {
      ...(input.position !== undefined ? { position: input.position } : {}),
      ...(input.taskId !== undefined ? { taskId: input.taskId } : {}),
    });
  }

  /** The traceback a failed run left, or RunNotFound/NotFound. */
  async traceback(caller: Caller, runId: string, requestedOrgId?: string): Promise<string> {
    const run = await this.get(caller, runId, requestedOrgId);
    if (!this.deps.tracebacks) {
      throw new ValidationError("traceback: this deployment has no traceback store");
    }
    return this.deps.tracebacks.read(run);
  }
}
