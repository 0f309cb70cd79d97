/**
 * The run host's glue for isolated maps: a child run's one-node DAG and its outputs object
 * (DAGY_MAP_TASK, DAGY_MAP_ITEMS), and the runner that launches child runs for a parent.
 */
import { WORKER_ENV } from "../config/env";
import { DagyError } from "../errors";
import type { JsonLogger } from "../log";
import type { IsolatedMapRunner, RunnableDag } from "../sdk";
import type { Json, RunResult } from "../sdk/types";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri, parseS3Uri } from "../storage/s3-uri";
import { taskRoleSigner } from "./api-signing";
import { parseMapItems, type WorkerConfig } from "./config";
import {
  HttpChildRunApi,
  mapOutputsKey,
  readChildItems,
  runIsolatedMap,
  type ChildRunApi,
  type IsolatedMapOptions,
} from "./isolated-map";
import type { WorkerRunStore } from "./run-outcome";

/** A child run of an isolated map: the one-node DAG it runs and where its items come from. */
export interface MapChild {
  readonly dag: RunnableDag;
  readonly taskId: string;
  readonly first: number;
  /** Parent's item index -> error, filled from the child's task_failed events. */
  readonly errors: Record<string, string>;
}

/** Bucket of `run-outputs/`: the artifacts bucket, where per-task outputs live too. */
export function outputsBucket(config: Pick<WorkerConfig, "artifactUri">): string {
  return parseS3Uri(config.artifactUri).bucket;
}

/**
 * A child run (DAGY_MAP_TASK, DAGY_MAP_ITEMS): the flow reduced to its mapped task, over its
 * items of the parent's list, run in-process and tolerating every failure so each item's
 * outcome is written for the parent to join.
 */
export async function mapChildDag(
  dag: RunnableDag,
  config: WorkerConfig,
  store: Pick<ObjectStore, "get">,
): Promise<MapChild> {
  const taskId = config.mapTask!;
  const node = dag.nodes.find((n) => n.id === taskId);
  if (node?.map === undefined) {
    throw new DagyError(
      `${WORKER_ENV.mapTask}=${taskId}: flow ${config.flowName} ${config.flowVersion} has no mapped task "${taskId}"`,
    );
  }
  const range = parseMapItems(config.mapItems!)!;
  const items = await readChildItems(
    store,
    outputsBucket(config),
    config.orgId,
    config.parentRunId!,
    taskId,
    range,
  );
  const { concurrency } = node.map;
  return {
    taskId,
    first: range.first,
    errors: {},
    dag: {
      name: dag.name,
      options: dag.options,
      nodes: [
        {
          ...node,
          input: items,
          dynamicInput: false,
          upstream: [],
          parameterNames: [],
          map: {
            over: { length: items.length },
            ...(concurrency !== undefined ? { concurrency } : {}),
            tolerated_failure_percentage: 100,
          },
        },
      ],
    },
  };
}

/** Writes the child's outputs object; the child FAILED when any of its items did. */
export async function writeChildOutputs(
  child: MapChild,
  result: RunResult,
  config: Pick<WorkerConfig, "artifactUri" | "orgId" | "runId">,
  store: Pick<ObjectStore, "put">,
): Promise<RunResult> {
  const outputs = (result.outputs[child.taskId] as unknown[] | undefined) ?? [];
  await store.put(
    formatS3Uri(outputsBucket(config), mapOutputsKey(config.orgId, config.runId)),
    JSON.stringify({ first: child.first, outputs, errors: child.errors }),
    { contentType: "application/json" },
  );
  const failed = Object.keys(child.errors);
  if (failed.length === 0) return result;
  const first = failed[0]!;
  return {
    ...result,
    status: "FAILED",
    failedTask: child.taskId,
    error: new DagyError(
      `${failed.length} of ${outputs.length} items failed; first: ${child.taskId}[${first}]: ${child.errors[first] ?? ""}`,
    ),
  };
}

export interface IsolatedMapDeps {
  readonly runs: WorkerRunStore;
  readonly store: Pick<ObjectStore, "get" | "put">;
  readonly childRuns?: (parameters: Record<string, Json>) => ChildRunApi;
  readonly isolatedMap?: IsolatedMapOptions;
}

/** Isolated maps launch child runs when the worker can reach the platform; else in-process. */
export function isolatedMapRunner(
  config: WorkerConfig,
  deps: IsolatedMapDeps,
  logger: JsonLogger,
  parameters: Record<string, Json>,
): IsolatedMapRunner | undefined {
  const list = deps.runs.list?.bind(deps.runs);
  const api =
    deps.childRuns?.(parameters) ??
    (config.apiUrl !== undefined
      ? new HttpChildRunApi({
          apiUrl: config.apiUrl,
          orgId: config.orgId,
          flowName: config.flowName,
          flowVersion: config.flowVersion,
          environment: config.environment,
          parentRunId: config.runId,
          correlationId: config.correlationId,
          parameters,
          ...(config.apiAuth === "sigv4" ? { sign: taskRoleSigner(config) } : {}),
        })
      : undefined);
  if (api === undefined || list === undefined) return undefined;
  return (request) =>
    runIsolatedMap(
      {
        api,
        children: {
          listChildren: (parentRunId, orgId, nextToken, createdFrom) =>
            list({
              orgId,
              parentRunId,
              limit: 100,
              ...(nextToken !== undefined ? { nextToken } : {}),
              ...(createdFrom !== undefined ? { createdFrom } : {}),
            }),
        },
        store: deps.store,
        bucket: outputsBucket(config),
        orgId: config.orgId,
        runId: config.runId,
        sleep: abortableSleep,
        log: (text, fields) => logger.info(text, fields),
        ...(deps.isolatedMap !== undefined ? { options: deps.isolatedMap } : {}),
      },
      request,
    );
}

/**
 * Says so when a flow's isolated maps will run in this process: the worker has no platform
 * API to ask for child runs (AWS in JWT mode, where the worker has no token; see README).
 */
export function noteInProcessIsolatedMaps(dag: RunnableDag, logger: JsonLogger): void {
  const isolated = dag.nodes.filter((node) => node.map?.isolate === true).map((n) => n.id);
  if (isolated.length === 0) return;
  logger.warn(
    `isolated maps run in this worker: no ${WORKER_ENV.apiUrl} to launch child runs through`,
    { event_type: "map_isolation_unavailable", map_tasks: isolated },
  );
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
