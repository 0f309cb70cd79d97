/**
 * Task states of a run: the `task_states` map inside the run item, written by the worker as
 * tasks start and finish. Bounded so that a huge flow never fails because of its bookkeeping.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { RunNotFoundError } from "../errors";
import { createJsonLogger, stderrLines } from "../log";
import type { TaskState } from "../sdk/types";
import { isConditionalCheckFailed, isValidationException } from "./internal";
import { validateRunId } from "../identifiers";

/** Where persistence reports what it had to drop (never silently). */
export interface PersistenceLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** JSON lines on stderr. */
export const defaultPersistenceLogger: PersistenceLogger = createJsonLogger(
  { component: "persistence" },
  stderrLines,
);

/** Task states written per UpdateItem: keeps the expression far below DynamoDB's 4 KB limit. */
export const MAX_TASK_STATES_PER_UPDATE = 100;
/**
 * A task's `error` is cut to this many characters in the run record (the full error and stack
 * are in the logs and the traceback object). With it a task state stays under ~1.3 KB, so
 * about 300 tasks with long errors, or thousands without, fit in the 400 KB item.
 */
export const MAX_TASK_ERROR_CHARS = 1000;

function truncateError(error: string): string {
  if (error.length <= MAX_TASK_ERROR_CHARS) return error;
  return `${error.slice(0, MAX_TASK_ERROR_CHARS)}… [truncated ${error.length - MAX_TASK_ERROR_CHARS} characters; see the run's logs]`;
}

/** Only the fields the console needs, with bounded error text. */
export function compactTaskState(state: TaskState): TaskState {
  const compact: TaskState = { status: state.status, attempts: state.attempts };
  if (state.started_at !== undefined) compact.started_at = state.started_at;
  if (state.completed_at !== undefined) compact.completed_at = state.completed_at;
  if (state.duration_ms !== undefined) compact.duration_ms = state.duration_ms;
  if (state.error !== undefined) compact.error = truncateError(state.error);
  // A mapped task's item counts; the worker bounds its listed failures (100, short errors).
  if (state.map !== undefined) {
    compact.map = {
      ...state.map,
      failures: state.map.failures.map((f) => ({ ...f, error: truncateError(f.error) })),
    };
  }
  return compact;
}

export class TaskStateRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly logger: PersistenceLogger = defaultPersistenceLogger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Writes task states into the run's `task_states` map: one UpdateItem per call, or one per
   * MAX_TASK_STATES_PER_UPDATE tasks. States are compacted (error text bounded). If the run
   * item would exceed DynamoDB's 400 KB limit, the states are written without error text; if
   * even that does not fit, the run is marked `task_states_truncated` and a warning is logged —
   * this never throws for size.
   *
   * @throws RunNotFoundError when the run does not exist
   */
  async merge(runId: string, states: Readonly<Record<string, TaskState>>): Promise<void> {
    validateRunId(runId);
    const entries = Object.entries(states);
    for (let i = 0; i < entries.length; i += MAX_TASK_STATES_PER_UPDATE) {
      await this.write(runId, entries.slice(i, i + MAX_TASK_STATES_PER_UPDATE));
    }
  }

  private async write(
    runId: string,
    entries: ReadonlyArray<[string, TaskState]>,
    withoutErrors = false,
  ): Promise<void> {
    const names: Record<string, string> = {
      "#ts": "task_states",
      "#org": "org_id",
      "#u": "updated_at",
    };
    const values: Record<string, unknown> = { ":u": this.now().toISOString() };
    const sets = entries.map(([taskId, state], i) => {
      names[`#t${i}`] = taskId;
      const compact = compactTaskState(state);
      if (withoutErrors && compact.error !== undefined)
        compact.error = "[omitted: run record size limit]";
      values[`:t${i}`] = compact;
      return `#ts.#t${i} = :t${i}`;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: runId },
          UpdateExpression: `SET ${sets.join(", ")}, #u = :u`,
          ConditionExpression: "attribute_exists(#org)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) throw new RunNotFoundError(runId);
      if (
        isValidationException(error, "document path provided in the update expression is invalid")
      ) {
        // A run written without task_states (not by create()): add the map, then retry.
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { run_id: runId },
            UpdateExpression: "SET #ts = if_not_exists(#ts, :empty)",
            ConditionExpression: "attribute_exists(#org)",
            ExpressionAttributeNames: { "#ts": "task_states", "#org": "org_id" },
            ExpressionAttributeValues: { ":empty": {} },
          }),
        );
        await this.write(runId, entries, withoutErrors);
        return;
      }
      if (!isValidationException(error, /item size/i)) throw error;
      if (!withoutErrors) {
        await this.write(runId, entries, true);
        return;
      }
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: runId },
          UpdateExpression: "SET task_states_truncated = :t",
          ConditionExpression: "attribute_exists(org_id)",
          ExpressionAttributeValues: { ":t": true },
        }),
      );
      this.logger.warn("task states dropped: the run record reached DynamoDB's 400 KB item limit", {
        run_id: runId,
        dropped_task_ids: entries.slice(0, 20).map(([id]) => id),
        dropped_count: entries.length,
      });
    }
  }
}
