/**
 * The flow SDK: `import { dag, task } from "dagy"`.
 *
 * ```ts
 * const extract = task("extract", async ({ source }: { source: string }) => readRows(source));
 * const load = task("load", async ({ rows, destination }: { rows: Row[]; destination: string }) => …);
 *
 * export default dag("etl_pipeline", { version: "1.0.0", parameters: { source: {}, destination: {} } }, () => {
 *   const rows = extract({ source: "{{ parameters.source }}" });
 *   load({ rows, destination: "{{ parameters.destination }}" });
 * });
 * ```
 */
export { task, isTaskRef } from "./task";
export type {
  Input,
  MapList,
  MapOptions,
  StrictMapOptions,
  Task,
  TaskCallArgs,
  TaskCallOptions,
  TaskFunction,
  TaskRef,
  TemplateString,
} from "./task";
export { Dag, dag, collectDags, isDag, DEFAULT_DAG_VERSION } from "./dag";
export type { TaskNode } from "./dag";
export {
  runDag,
  DEFAULT_FAILURE_POLICY,
  DEFAULT_MAX_PARALLELISM,
  RunCancelledError,
  TaskAbortedError,
  TaskTimeoutError,
} from "./executor";
export type {
  ExecuteOptions,
  FailurePolicy,
  IsolatedItemOutcome,
  IsolatedMapRequest,
  IsolatedMapRunner,
  RunnableDag,
} from "./executor";
export { resolveParameters } from "./parameters";
export type { ParameterSource } from "./parameters";
export { DEFAULT_TASK_OPTIONS, retryDelay } from "./options";
export type { ResolvedTaskOptions } from "./options";
export { TemplateResolutionError } from "./template";
export { SDK_VERSION } from "./version";
export { DagDefinitionError, ValidationError } from "../errors";
export * from "./types";
