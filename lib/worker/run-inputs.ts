/**
 * What a claimed run starts from besides its flow: its parameters (in the configuration, in
 * the run record, or in an object) and the outputs an earlier attempt kept.
 */
import { WORKER_ENV } from "../config/env";
import { DagyError } from "../errors";
import type { JsonLogger } from "../log";
import type { RunRecord } from "../persistence/records";
import type { Json } from "../sdk/types";
import type { ObjectStore } from "../storage/object-store";
import type { WorkerConfig } from "./config";
import { message } from "./run-outcome";
import { readKeptOutputs } from "./task-outputs";

/** The run's parameters; `onLoaded` is called when they were read from the record or S3. */
export async function loadParameters(
  config: Pick<WorkerConfig, "runId" | "parameters" | "parametersInRun" | "parametersUri">,
  store: Pick<ObjectStore, "get">,
  claimedRun: RunRecord | undefined,
  onLoaded: () => void,
): Promise<Record<string, Json>> {
  if (config.parameters !== undefined) return config.parameters;
  if (config.parametersInRun === true) {
    // Too large for the overrides: the launcher kept them in the run record we claimed.
    const inRun: unknown = claimedRun?.parameters;
    if (inRun === null || typeof inRun !== "object" || Array.isArray(inRun)) {
      throw new DagyError(
        `run ${config.runId} was launched with its parameters in the run record (${WORKER_ENV.parametersInRun}=1), but the record has no parameters`,
      );
    }
    onLoaded();
    return inRun as Record<string, Json>;
  }
  if (config.parametersUri === undefined) return {};
  const raw = await store.get(config.parametersUri);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw new DagyError(
      `parameters at ${config.parametersUri} are not valid JSON: ${message(error)}`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new DagyError(`parameters at ${config.parametersUri} must be a JSON object`);
  }
  onLoaded();
  return parsed as Record<string, Json>;
}

/** Outputs an earlier attempt (or the run re-run from its failure) kept: those tasks are done. */
export async function completedTasks(
  run: RunRecord | undefined,
  store: Pick<ObjectStore, "get">,
  logger: JsonLogger,
): Promise<Record<string, unknown>> {
  if (!run?.task_outputs) return {};
  const completed = await readKeptOutputs(run, store, (taskId, error) =>
    logger.warn(`the kept output of task ${taskId} cannot be read; it runs again`, {
      event_type: "task_output_unreadable",
      task_id: taskId,
      error: message(error),
    }),
  );
  const ids = Object.keys(completed);
  if (ids.length > 0) {
    logger.info(`resuming: ${ids.length} task(s) already succeeded and are not run again`, {
      event_type: "run_resumed",
      completed_tasks: ids.slice(0, 100),
    });
  }
  return completed;
}
