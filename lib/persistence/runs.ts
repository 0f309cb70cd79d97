/**
 * Runs: one item per run in the runs table. The state machine is ./run-state, task states
 * ./task-states, task outputs ./task-outputs, and idempotency records (which share the table)
 * ./idempotency.
 *
 * Every status write is ONE conditional UpdateItem on the current status, so concurrent
 * writers (worker, reconciler, cancel) cannot overwrite each other and terminal statuses never
 * change. The derived index attributes (`org_flow`, `org_status`, `active_status`) are written
 * in the same request as the status they derive from.
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { ConflictError, ValidationError } from "../errors";
import type { TaskState } from "../sdk/types";
import { IDEMPOTENCY_RECORD_TYPE, IdempotencyRepository } from "./idempotency";
import { isConditionalCheckFailed, omit, type Item } from "./internal";
import type { RunAttempt, RunRecord, TaskOutputRef } from "./records";
import { RunOrgCache } from "./run-org-cache";
import {
  INTERNAL_ATTRIBUTES,
  assertTransitions,
  assertWritableFields,
  isRunStatus,
  statusAttributes,
  writeTransition,
} from "./run-state";
import { RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from "./schema";
import {
  TaskStateRepository,
  defaultPersistenceLogger,
  type PersistenceLogger,
} from "./task-states";
import { addTransitionOptions, type TransitionOptions } from "./transition-options";
import { recordTaskOutputs } from "./task-outputs";
import { UpdateBuilder } from "./update-builder";
import {
  activeRunsQuery,
  listRunsQuery,
  queryRunPage,
  type ActiveRunQuery,
  type RunListQuery,
  type RunPage,
} from "./run-queries";
import {
  validateFlowName,
  validateFlowVersion,
  validateOrgId,
  validateRunId,
} from "../identifiers";

export type { ActiveRunQuery, RunListQuery, RunPage } from "./run-queries";
export { MAX_ENTRIES_WITH_TRANSITION, type TransitionOptions } from "./transition-options";

export { IDEMPOTENCY_TTL_SECONDS, type IdempotencyClaim } from "./idempotency";
export {
  MAX_TASK_ERROR_CHARS,
  MAX_TASK_STATES_PER_UPDATE,
  compactTaskState,
  defaultPersistenceLogger,
  type PersistenceLogger,
} from "./task-states";

const ORG_ID_CACHE_SIZE = 10_000;

export class RunRepository {
  /** run_id -> org_id: a run's org never changes, so transitions need not re-read it. */
  private readonly orgIds: RunOrgCache;

  private readonly taskStates: TaskStateRepository;
  private readonly now: () => Date;
  /** The idempotency records that share this table. */
  readonly idempotency: IdempotencyRepository;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    logger: PersistenceLogger = defaultPersistenceLogger,
    options: { readonly now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.orgIds = new RunOrgCache(doc, tableName, ORG_ID_CACHE_SIZE);
    this.taskStates = new TaskStateRepository(doc, tableName, logger, this.now);
    this.idempotency = new IdempotencyRepository(doc, tableName, this.now);
  }

  /**
   * Creates the run (ConflictError if the id exists). task_states starts as an empty map.
   * Returns the item as stored, as `get` would read it.
   */
  async create(record: RunRecord): Promise<RunRecord> {
    validateRunId(record.run_id);
    validateOrgId(record.org_id);
    validateFlowName(record.flow_name);
    validateFlowVersion(record.flow_version);
    if (!isRunStatus(record.status)) {
      throw new ValidationError(`status must be one of ${RUN_STATUSES.join(", ")}`, "status");
    }
    if (typeof record.created_at !== "string" || record.created_at.length === 0) {
      throw new ValidationError("created_at must be an ISO timestamp", "created_at");
    }
    const item: Item = {
      ...record,
      task_states: record.task_states ?? {},
      updated_at: record.updated_at || record.created_at,
      ...statusAttributes(record.org_id, record.flow_name, record.status),
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: "attribute_not_exists(run_id)",
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConflictError(`run ${record.run_id} already exists`);
      }
      throw error;
    }
    this.orgIds.remember(record.run_id, record.org_id);
    return omit<RunRecord>(item, INTERNAL_ATTRIBUTES);
  }

  /**
   * A record of this table read elsewhere (the launcher's claimed write, handed to its worker over
   * IPC): its org is remembered as for a record read here, which saves a read before the next
   * write. Write conditions still check the org.
   */
  adopt(record: Pick<RunRecord, "run_id" | "org_id">): void {
    this.orgIds.remember(record.run_id, record.org_id);
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    validateRunId(runId);
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { run_id: runId }, ConsistentRead: true }),
    );
    return this.toRecord(out.Item);
  }

  /**
   * Moves the run from one of `from` to `to` in one conditional UpdateItem. Returns the new
   * record, or undefined when the run is missing or its status is not in `from` (someone else
   * moved it first). A transition ALLOWED_TRANSITIONS forbids is a programming error (throws).
   */
  async transition(
    runId: string,
    from: RunStatus | readonly RunStatus[],
    to: RunStatus,
    fields: Partial<RunRecord> = {},
    options: TransitionOptions = {},
  ): Promise<RunRecord | undefined> {
    const fromList: readonly RunStatus[] = typeof from === "string" ? [from] : from;
    assertTransitions(fromList, to);
    assertWritableFields(fields, "transition()");
    validateRunId(runId);
    // A caller that knows the org saves its read; the condition checks it either way.
    const orgId = options.orgId ?? (await this.orgOf(runId));
    if (orgId === undefined) return undefined;

    const update = new UpdateBuilder();
    const condition =
      writeTransition(update, orgId, fromList, to, fields, this.now()) +
      addTransitionOptions(update, options);
    return this.conditionalUpdate(runId, update, condition);
  }

  /** Sets non-status fields (task_arn, log_stream, exit_code, ...). Undefined if the run is missing. */
  async update(runId: string, fields: Partial<RunRecord>): Promise<RunRecord | undefined> {
    assertWritableFields(fields, "update()");
    validateRunId(runId);
    const update = new UpdateBuilder();
    update.setFields(fields);
    update.set("updated_at", this.now().toISOString());
    return this.conditionalUpdate(runId, update, `attribute_exists(${update.name("org_id")})`);
  }

  /**
   * Marks the run for cancellation while it is QUEUED or RUNNING (the worker and the launcher
   * act on the flag). A terminal run is returned unchanged; a missing run gives undefined.
   */
  async requestCancel(runId: string): Promise<RunRecord | undefined> {
    validateRunId(runId);
    const update = new UpdateBuilder();
    update.set("cancel_requested", true);
    update.set("updated_at", this.now().toISOString());
    const statusName = update.name("status");
    const terminal = TERMINAL_STATUSES.map((s) => update.value(s));
    const condition = `attribute_exists(${update.name("org_id")}) AND NOT (${statusName} IN (${terminal.join(", ")}))`;
    const updated = await this.conditionalUpdate(runId, update, condition);
    return updated ?? this.get(runId);
  }

  /**
   * Writes task states into the run's `task_states` map: one UpdateItem per call, or one per
   * MAX_TASK_STATES_PER_UPDATE tasks. States are compacted (error text bounded). If the run
   * item would exceed DynamoDB's 400 KB limit, the states are written without error text; if
   * even that does not fit, the run is marked `task_states_truncated` and a warning is logged —
   * this never throws for size, so a huge flow never fails because of its bookkeeping.
   */
  async mergeTaskStates(runId: string, states: Readonly<Record<string, TaskState>>): Promise<void> {
    await this.taskStates.merge(runId, states);
  }

  /**
   * Records a started task as the run's next attempt: sets `task_arn` and appends to `attempts`,
   * on condition that the run has no current task and exactly `previousAttempts` attempts, so
   * a duplicate event or a concurrent relaunch cannot add one twice. Returns the new record, or
   * undefined when the condition failed.
   */
  async recordAttempt(
    runId: string,
    attempt: RunAttempt,
    previousAttempts: number,
    fields: Pick<Partial<RunRecord>, "log_stream"> = {},
  ): Promise<RunRecord | undefined> {
    validateRunId(runId);
    const update = new UpdateBuilder();
    update.setFields(fields);
    update.set("task_arn", attempt.task_arn);
    update.set("updated_at", this.now().toISOString());
    const attempts = update.name("attempts");
    const i = update.value([attempt]);
    const empty = update.value([]);
    // list_append over if_not_exists: one expression both for the first attempt and the next.
    const expression = `${update.expression()}, ${attempts} = list_append(if_not_exists(${attempts}, ${empty}), ${i})`;
    const arn = update.name("task_arn");
    const count =
      previousAttempts === 0
        ? `(attribute_not_exists(${attempts}) OR size(${attempts}) = ${update.value(0)})`
        : `size(${attempts}) = ${update.value(previousAttempts)}`;
    // A warm worker may claim the run (writing this very task ARN) before the launcher records
    // its attempt: that is the same task, not a concurrent relaunch.
    const condition = `attribute_exists(${update.name("org_id")}) AND (attribute_not_exists(${arn}) OR ${arn} = ${update.value(attempt.task_arn)}) AND ${count}`;
    return this.conditionalUpdate(runId, update, condition, expression);
  }

  /**
   * The first attempt of a warm dispatch whose worker claimed the run before the launcher
   * recorded it: the worker wrote its real task ARN (Fargate: from task metadata) where the
   * launcher only knows a placeholder. The attempt is appended with the worker's ARN, and the
   * run's `task_arn` is left as the worker wrote it. Conditional on no attempt yet and that task
   * still being the run's, so it adds nothing twice. Undefined when the condition failed.
   */
  async recordClaimedFirstAttempt(
    runId: string,
    attempt: RunAttempt,
    claimedTaskArn: string,
  ): Promise<RunRecord | undefined> {
    validateRunId(runId);
    const update = new UpdateBuilder();
    update.set("updated_at", this.now().toISOString());
    const attempts = update.name("attempts");
    const value = update.value([{ ...attempt, task_arn: claimedTaskArn }]);
    const expression = `${update.expression()}, ${attempts} = ${value}`;
    const condition = `attribute_exists(${update.name("org_id")}) AND ${update.name("task_arn")} = ${update.value(claimedTaskArn)} AND (attribute_not_exists(${attempts}) OR size(${attempts}) = ${update.value(0)})`;
    return this.conditionalUpdate(runId, update, condition, expression);
  }

  /**
   * Closes the current attempt (its stop details written into `attempts`) and puts the run
   * back in the queue for the next: QUEUED, no current task, `relaunches` + 1. Conditional on
   * the run being active (or in `options.from`), its current task being `taskArn`, and no
   * cancel requested — so a repeated stop event, or a cancel racing the relaunch, relaunches
   * nothing. Undefined when the condition failed.
   */
  async beginRelaunch(
    runId: string,
    taskArn: string,
    attempts: readonly RunAttempt[],
    relaunches: number,
    options: {
      /** Default QUEUED or RUNNING. The warm fallback takes over only a run still QUEUED. */
      readonly from?: readonly ("QUEUED" | "RUNNING")[];
    } = {},
  ): Promise<RunRecord | undefined> {
    validateRunId(runId);
    const orgId = await this.orgOf(runId);
    if (orgId === undefined) return undefined;
    const update = new UpdateBuilder();
    const statusCondition = writeTransition(
      update,
      orgId,
      options.from ?? ["QUEUED", "RUNNING"],
      "QUEUED",
      { attempts: [...attempts], relaunches },
      this.now(),
    );
    update.remove("task_arn");
    const cancel = update.name("cancel_requested");
    const condition =
      `${statusCondition} AND ${update.name("task_arn")} = ${update.value(taskArn)}` +
      ` AND (attribute_not_exists(${cancel}) OR ${cancel} = ${update.value(false)})`;
    return this.conditionalUpdate(runId, update, condition);
  }

  /** The run whose current task is `taskArn` (GSI `by_task_arn`), if any. */
  async findByTaskArn(taskArn: string): Promise<RunRecord | undefined> {
    if (typeof taskArn !== "string" || taskArn === "" || taskArn.length > 2048) return undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: "by_task_arn",
        KeyConditionExpression: "task_arn = :t",
        ExpressionAttributeValues: { ":t": taskArn },
        Limit: 2,
      }),
    );
    const item = out.Items?.[0];
    // The index is eventually consistent: read the run itself.
    return item && typeof item.run_id === "string" ? this.get(item.run_id) : undefined;
  }

  /** Writes where succeeded tasks' outputs are kept (./task-outputs). */
  recordTaskOutputs(
    runId: string,
    outputs: Readonly<Record<string, TaskOutputRef>>,
  ): Promise<void> {
    return recordTaskOutputs(this.doc, this.tableName, runId, outputs);
  }

  /** Appends `rerunId` to the run's `reruns` (the link from a run to its re-runs). */
  async addRerun(runId: string, rerunId: string): Promise<void> {
    validateRunId(runId);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { run_id: runId },
        UpdateExpression: "SET #r = list_append(if_not_exists(#r, :empty), :one)",
        ConditionExpression: "attribute_exists(#org)",
        ExpressionAttributeNames: { "#r": "reruns", "#org": "org_id" },
        ExpressionAttributeValues: { ":empty": [], ":one": [rerunId] },
      }),
    );
  }

  /** An org's runs, newest first; by flow and/or status when given. */
  async list(q: RunListQuery): Promise<RunPage> {
    return queryRunPage(this.doc, listRunsQuery(this.tableName, q), q, (item) =>
      this.toRecord(item),
    );
  }

  /** QUEUED or RUNNING runs, least recently updated first (what a reconciliation sweep wants). */
  async listActive(q: ActiveRunQuery): Promise<RunPage> {
    return queryRunPage(this.doc, activeRunsQuery(this.tableName, q), q, (item) =>
      this.toRecord(item),
    );
  }

  // -------------------------------------------------------------------------------------------

  private toRecord(item: Record<string, unknown> | undefined): RunRecord | undefined {
    if (!item || item.record_type === IDEMPOTENCY_RECORD_TYPE) return undefined;
    const record = omit<RunRecord>(item, INTERNAL_ATTRIBUTES);
    this.orgIds.remember(record.run_id, record.org_id);
    return record;
  }

  private orgOf(runId: string): Promise<string | undefined> {
    return this.orgIds.orgOf(runId);
  }

  private async conditionalUpdate(
    runId: string,
    update: UpdateBuilder,
    condition: string,
    expression: string = update.expression(),
  ): Promise<RunRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: runId },
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
          ReturnValues: "ALL_NEW",
        }),
      );
      return this.toRecord(out.Attributes);
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }
}
