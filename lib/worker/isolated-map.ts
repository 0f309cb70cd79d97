/**
 * Isolated maps (`task.map(list, { isolate: true })`), both sides:
 *
 * - The parent's worker (`runIsolatedMap`) writes the resolved list once to
 *   `run-outputs/<org>/<run>/map/input-<task>.json`, asks the platform for one child run per
 *   `itemsPerChild` items (POST /runs/batch through `ChildRunApi`, in batches at a
 *   throttle-aware pace), then waits: it lists its children by `parent_run_id` every few
 *   seconds with backoff, and joins each finished child's outputs in list order.
 * - A child's worker (`runMapChild`) runs only the mapped task, for its items `first..last`,
 *   and writes `run-outputs/<org>/<child>/map/outputs.json`.
 *
 * Why the parent asks the platform rather than calling RunTask itself: the launcher (idempotency,
 * parameter placement, run records, the compute backend) lives behind the API, and only it may
 * call RunTask and pass the task roles (least privilege, DESIGN.md). The worker gets
 * `DAGY_API_URL`; locally the embedded platform sets it, in AWS the worker would sign with its
 * task role (execute-api:Invoke on two routes).
 *
 * Objects live in the artifacts bucket under `run-outputs/`, beside per-task outputs, in a
 * `map/` folder no task id can collide with (task output files are `<encoded task id>.json`).
 */
import type { RunRecord } from "../persistence/records";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri } from "../storage/s3-uri";
import { RunCancelledError, type IsolatedMapRequest, type Json } from "../sdk";
import { validateOrgId, validateRunId } from "../identifiers";
import { ChildReadWindow } from "./child-window";

/** `run-outputs/<org>/<run>/map/input-<task>.json`: an isolated map's resolved list. */
export function mapInputKey(orgId: string, runId: string, taskId: string): string {
  return `run-outputs/${validateOrgId(orgId)}/${validateRunId(runId)}/map/input-${encodeURIComponent(taskId)}.json`;
}

/** `run-outputs/<org>/<run>/map/outputs.json`: what a child run's items gave. */
export function mapOutputsKey(orgId: string, runId: string): string {
  return `run-outputs/${validateOrgId(orgId)}/${validateRunId(runId)}/map/outputs.json`;
}

/** A child's outputs object: `outputs[k]` is item `first + k`; failed items are in `errors`. */
export interface MapChildOutputs {
  readonly first: number;
  readonly outputs: readonly unknown[];
  /** Item index (of the parent's list) -> error message. */
  readonly errors: Readonly<Record<string, string>>;
}

/** One child to launch: items `first..last` of the parent's list. */
export interface ChildLaunch {
  /** The child's position: its correlation id is `<parent correlation id>:<index>`. */
  readonly index: number;
  readonly first: number;
  readonly last: number;
}

export interface ChildLaunchOutcome {
  readonly runId?: string;
  readonly error?: string;
  /** Worth asking again later (throttling, a busy backend). */
  readonly retryable?: boolean;
}

/** What the parent's worker may ask of the platform. */
export interface ChildRunApi {
  /** One request for several children; outcomes in request order. Throws when the call failed. */
  launch(
    taskId: string,
    children: readonly ChildLaunch[],
    options?: { readonly workloadProfile?: string },
  ): Promise<ChildLaunchOutcome[]>;
  cancel(runId: string, reason: string): Promise<void>;
}

/** The parent's view of its children (the runs table, by_parent index). */
export interface ChildRunSource {
  listChildren(
    parentRunId: string,
    orgId: string,
    nextToken?: string,
    /** Only children created at or after this ISO time (see ChildReadWindow). */
    createdFrom?: string,
  ): Promise<{ items: RunRecord[]; nextToken?: string }>;
}

export interface IsolatedMapOptions {
  /** Items per child run when the map does not say (`itemsPerChild`). Default 1. */
  readonly itemsPerChild?: number;
  /** Children per launch request. Default 20 (RunTask's sustained rate per second). */
  readonly launchBatchSize?: number;
  /** Pause between launch requests. Default 1000 ms. */
  readonly launchIntervalMs?: number;
  /** First pause between polls; grows by half up to `maxPollMs`. Default 1000 ms. */
  readonly pollMs?: number;
  /** Default 10,000 ms. */
  readonly maxPollMs?: number;
  /** Launch attempts per child before its items fail. Default 6. */
  readonly maxLaunchAttempts?: number;
}

export interface IsolatedMapDeps {
  readonly api: ChildRunApi;
  readonly children: ChildRunSource;
  readonly store: Pick<ObjectStore, "get" | "put">;
  /** Bucket of `run-outputs/` (the artifacts bucket). */
  readonly bucket: string;
  readonly orgId: string;
  readonly runId: string;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log: (message: string, fields: Record<string, unknown>) => void;
  readonly options?: IsolatedMapOptions;
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Splits `total` items into children of `size` items: [{index, first, last}]. */
export function childRanges(total: number, size: number): ChildLaunch[] {
  const ranges: ChildLaunch[] = [];
  for (let first = 0, index = 0; first < total; first += size, index++) {
    ranges.push({ index, first, last: Math.min(total, first + size) - 1 });
  }
  return ranges;
}

/** The parent's side: launch, wait, join. Resolves once every item was reported. */
export async function runIsolatedMap(
  deps: IsolatedMapDeps,
  request: IsolatedMapRequest,
): Promise<void> {
  const options = deps.options ?? {};
  const { taskId, items, signal, onItem, spec } = request;
  const perChild = spec.items_per_child ?? options.itemsPerChild ?? 1;
  const ranges = childRanges(items.length, Math.max(1, perChild));
  const launchOptions =
    spec.workload_profile !== undefined ? { workloadProfile: spec.workload_profile } : {};
  const batchSize = Math.max(1, Math.min(100, options.launchBatchSize ?? 20));
  const interval = options.launchIntervalMs ?? 1000;
  const maxAttempts = options.maxLaunchAttempts ?? 6;
  const basePoll = options.pollMs ?? 1000;
  const maxPoll = options.maxPollMs ?? 10_000;

  await deps.store.put(
    formatS3Uri(deps.bucket, mapInputKey(deps.orgId, deps.runId, taskId)),
    JSON.stringify(items),
    { contentType: "application/json" },
  );

  let open = ranges.length;
  const launched = new Set<string>();
  const done = new Set<string>();
  const window = new ChildReadWindow(launched, done);
  let launchingOver = false;
  const failRange = (range: ChildLaunch, error: string): void => {
    for (let i = range.first; i <= range.last; i++) onItem(i, { ok: false, error });
    open--;
  };

  // Launch: batches at a steady pace; throttled children go back in the queue with backoff.
  const launching = (async () => {
    let queue = ranges.map((range) => ({ range, attempts: 0 }));
    let pause = interval;
    while (queue.length > 0 && !signal.aborted) {
      const batch = queue.slice(0, batchSize);
      queue = queue.slice(batchSize);
      let outcomes: ChildLaunchOutcome[];
      try {
        outcomes = await deps.api.launch(
          taskId,
          batch.map((b) => b.range),
          launchOptions,
        );
      } catch (error) {
        outcomes = batch.map(() => ({ error: message(error), retryable: true }));
      }
      let throttled = false;
      batch.forEach((entry, k) => {
        const outcome = outcomes[k] ?? { error: "no launch result", retryable: true };
        if (outcome.runId) {
          launched.add(outcome.runId);
          return;
        }
        entry.attempts++;
        if (outcome.retryable && entry.attempts < maxAttempts) {
          throttled = true;
          queue.push(entry);
        } else {
          failRange(
            entry.range,
            `map "${taskId}": child ${entry.range.index} was not launched: ${outcome.error ?? "unknown error"}`,
          );
        }
      });
      if (throttled) {
        pause = Math.min(Math.max(pause, 500) * 2, 30_000);
        deps.log("child launches throttled; backing off", {
          event_type: "map_launch_throttled",
          map_task: taskId,
          retry_in_ms: pause,
        });
      } else {
        pause = interval;
      }
      if (queue.length > 0 && pause > 0) await deps.sleep(pause, signal);
    }
    launchingOver = true;
    deps.log(`launched ${launched.size} child runs`, {
      event_type: "map_children_launched",
      map_task: taskId,
      children: launched.size,
    });
  })();

  // Wait: list children by parent_run_id, with backoff while nothing changes.
  const waiting = (async () => {
    let delay = basePoll;
    while (open > 0 && !signal.aborted) {
      await deps.sleep(delay, signal);
      if (signal.aborted) break;
      let progressed = false;
      let token: string | undefined;
      const from = window.createdFrom;
      do {
        const page = await deps.children.listChildren(deps.runId, deps.orgId, token, from);
        for (const child of page.items) {
          if (child.map_task !== taskId) continue;
          window.seen(child);
          if (done.has(child.run_id) || !TERMINAL.has(child.status)) continue;
          done.add(child.run_id);
          progressed = true;
          await joinChild(deps, child, taskId, onItem);
          open--;
        }
        token = page.nextToken;
      } while (token !== undefined && !signal.aborted);
      window.advance(launchingOver);
      delay = progressed ? basePoll : Math.min(maxPoll, Math.round(delay * 1.5));
    }
  })();

  try {
    await Promise.all([launching, waiting]);
  } finally {
    // The map failed (tolerance exceeded) or another task did: no child runs for nothing. Not
    // when the run itself was cancelled or its worker stopped (RunCancelledError): a cancel
    // already cancels the children (runs service), and a stopped worker's run may be relaunched
    // and resume, joining the very children it launched (same idempotency keys).
    if (signal.aborted && !(signal.reason instanceof RunCancelledError)) {
      const active = [...launched].filter((id) => !done.has(id));
      await Promise.allSettled(
        active.map((id) => deps.api.cancel(id, `parent run ${deps.runId} stopped`)),
      );
    }
  }
}

/** Reports a finished child's items: from its outputs object, or failed with its error. */
async function joinChild(
  deps: IsolatedMapDeps,
  child: RunRecord,
  taskId: string,
  onItem: IsolatedMapRequest["onItem"],
): Promise<void> {
  const [first, last] = (child.map_items ?? "").split("-").map(Number) as [number, number];
  let result: MapChildOutputs | undefined;
  try {
    const raw = await deps.store.get(
      formatS3Uri(deps.bucket, mapOutputsKey(child.org_id, child.run_id)),
    );
    result = JSON.parse(raw.toString("utf8")) as MapChildOutputs;
  } catch {
    result = undefined; // cancelled, or died before writing: its items fail with its status
  }
  for (let i = first; i <= last; i++) {
    const error = result?.errors[String(i)];
    if (result !== undefined && error === undefined && i - result.first < result.outputs.length) {
      onItem(i, { ok: true, output: result.outputs[i - result.first] });
    } else {
      onItem(i, {
        ok: false,
        error:
          error ??
          `map "${taskId}": child run ${child.run_id} ${child.status}${child.error_message ? `: ${child.error_message}` : ""}`,
      });
    }
  }
}

/** A child run's items: inputs from the parent's list, written back as `MapChildOutputs`. */
export async function readChildItems(
  store: Pick<ObjectStore, "get">,
  bucket: string,
  orgId: string,
  parentRunId: string,
  taskId: string,
  range: { first: number; last: number },
): Promise<Json[]> {
  const raw = await store.get(formatS3Uri(bucket, mapInputKey(orgId, parentRunId, taskId)));
  const list = JSON.parse(raw.toString("utf8")) as unknown;
  if (!Array.isArray(list) || range.last >= list.length) {
    throw new Error(
      `map input of task "${taskId}" (run ${parentRunId}) has no items ${range.first}-${range.last}`,
    );
  }
  return list.slice(range.first, range.last + 1) as Json[];
}

/**
 * `ChildRunApi` over the platform's HTTP API (POST /runs/batch, POST /runs/{id}/cancel). Every
 * child is the parent's flow version with its parameters, `parent_run_id`, `map_task`,
 * `map_items`, correlation id `<parent>:<index>` and an idempotency key per child, so a
 * relaunched parent finds the children it already launched instead of doubling them.
 */
export class HttpChildRunApi implements ChildRunApi {
  constructor(
    private readonly options: {
      readonly apiUrl: string;
      readonly orgId: string;
      readonly flowName: string;
      readonly flowVersion: string;
      readonly environment: string;
      readonly parentRunId: string;
      readonly correlationId: string;
      readonly parameters: Record<string, Json>;
      readonly fetch?: typeof fetch;
      /** Adds authentication (SigV4 in AWS); locally none. */
      readonly sign?: (request: Request) => Promise<Request>;
    },
  ) {}

  async launch(
    taskId: string,
    children: readonly ChildLaunch[],
    options: { readonly workloadProfile?: string } = {},
  ): Promise<ChildLaunchOutcome[]> {
    const o = this.options;
    const body = {
      org_id: o.orgId,
      ...(o.environment ? { environment: o.environment } : {}),
      requests: children.map((c) => ({
        flow_name: o.flowName,
        flow_version: o.flowVersion,
        parameters: o.parameters,
        parent_run_id: o.parentRunId,
        ...(options.workloadProfile !== undefined
          ? { workload_profile: options.workloadProfile }
          : {}),
        map_task: taskId,
        map_items: `${c.first}-${c.last}`,
        correlation_id: `${o.correlationId}:${c.index}`,
        idempotency_key: `map:${o.parentRunId}:${taskId}:${c.index}`,
      })),
    };
    const response = await this.send("POST", "/runs/batch", body);
    const text = await response.text();
    if (!response.ok) {
      const retryable = response.status === 429 || response.status >= 500;
      return children.map(() => ({
        error: `POST /runs/batch answered ${response.status}: ${text.slice(0, 500)}`,
        retryable,
      }));
    }
    const parsed = JSON.parse(text) as {
      results?: Array<{ run_id?: string | null; success?: boolean; error?: string }>;
    };
    return children.map((_, k) => {
      const r = parsed.results?.[k];
      if (r?.success && r.run_id) return { runId: r.run_id };
      const error = r?.error ?? "no result";
      // A replayed key whose first launch is still in flight, or RunTask throttling.
      return { error, retryable: /throttl|rate exceeded|still in progress|retry/i.test(error) };
    });
  }

  async cancel(runId: string, reason: string): Promise<void> {
    await this.send("POST", `/runs/${encodeURIComponent(runId)}/cancel`, {
      org_id: this.options.orgId,
      reason,
    });
  }

  private async send(method: string, path: string, body: unknown): Promise<Response> {
    let request = new Request(`${this.options.apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (this.options.sign) request = await this.options.sign(request);
    return (this.options.fetch ?? fetch)(request);
  }
}
