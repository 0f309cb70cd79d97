/**
 * Runs: one item per run in the runs table. The state machine is ./run-state, task states
 * ./task-states, and idempotency records (which share the table) ./idempotency.
 *
 * Every status write is ONE conditional UpdateItem on the current status, so concurrent
 * writers (worker, reconciler, cancel) cannot overwrite each other and terminal statuses never
 * change. The derived index attributes (`org_flow`, `org_status`, `active_status`) are written
 * in the same request as the status they derive from.
 */
import {
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { ConflictError, ValidationError } from "../errors";
import type { TaskState } from "../sdk/types";
import {
  IDEMPOTENCY_RECORD_TYPE,
  IdempotencyRepository,
  type IdempotencyClaim,
} from "./idempotency";
import { isConditionalCheckFailed, omit, type Item } from "./internal";
import type { RunRecord } from "./records";
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
  private readonly orgIds = new Map<string, string>();

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
    this.taskStates = new TaskStateRepository(doc, tableName, logger, this.now);
    this.idempotency = new IdempotencyRepository(doc, tableName, this.now);
  }

  /** Creates the run (ConflictError if the id exists). task_states starts as an empty map. */
  async create(record: RunRecord): Promise<void> {
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
    this.rememberOrg(record.run_id, record.org_id);
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
  ): Promise<RunRecord | undefined> {
    const fromList: readonly RunStatus[] = typeof from === "string" ? [from] : from;
    assertTransitions(fromList, to);
    assertWritableFields(fields, "transition()");
    validateRunId(runId);
    const orgId = await this.orgOf(runId);
    if (orgId === undefined) return undefined;

    const update = new UpdateBuilder();
    const condition = writeTransition(update, orgId, fromList, to, fields, this.now());
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

  /** Same as `idempotency.claim`; kept for callers of the earlier API. */
  claimIdempotencyKey(
    orgId: string,
    key: string,
    runId: string,
    now?: Date,
    payloadHash?: string,
  ): Promise<IdempotencyClaim> {
    return this.idempotency.claim(orgId, key, runId, {
      ...(now !== undefined ? { now } : {}),
      ...(payloadHash !== undefined ? { payloadHash } : {}),
    });
  }

  /** Same as `idempotency.release`; kept for callers of the earlier API. */
  releaseIdempotencyKey(orgId: string, key: string, runId: string): Promise<void> {
    return this.idempotency.release(orgId, key, runId);
  }

  // -------------------------------------------------------------------------------------------

  private toRecord(item: Record<string, unknown> | undefined): RunRecord | undefined {
    if (!item || item.record_type === IDEMPOTENCY_RECORD_TYPE) return undefined;
    const record = omit<RunRecord>(item, INTERNAL_ATTRIBUTES);
    this.rememberOrg(record.run_id, record.org_id);
    return record;
  }

  private rememberOrg(runId: string, orgId: string): void {
    if (this.orgIds.has(runId)) return;
    if (this.orgIds.size >= ORG_ID_CACHE_SIZE) {
      const oldest = this.orgIds.keys().next();
      if (!oldest.done) this.orgIds.delete(oldest.value);
    }
    this.orgIds.set(runId, orgId);
  }

  private async orgOf(runId: string): Promise<string | undefined> {
    const cached = this.orgIds.get(runId);
    if (cached !== undefined) return cached;
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { run_id: runId },
        ProjectionExpression: "org_id",
        ConsistentRead: true,
      }),
    );
    const orgId: unknown = out.Item?.org_id;
    if (typeof orgId !== "string") return undefined;
    this.rememberOrg(runId, orgId);
    return orgId;
  }

  private async conditionalUpdate(
    runId: string,
    update: UpdateBuilder,
    condition: string,
  ): Promise<RunRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: runId },
          UpdateExpression: update.expression(),
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
