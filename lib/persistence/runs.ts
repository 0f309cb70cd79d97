/**
 * Runs: one item per run, plus idempotency records, in the runs table.
 *
 * Every status write is ONE conditional UpdateItem on the current status, so concurrent
 * writers (worker, reconciler, cancel) cannot overwrite each other and terminal statuses never
 * change. The derived index attributes (`org_flow`, `org_status`, `active_status`) are written
 * in the same request as the status they derive from.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ConflictError, RunNotFoundError, ValidationError } from "../errors";
import type { TaskState } from "../sdk/types";
import {
  decodeToken,
  encodeToken,
  isConditionalCheckFailed,
  isValidationException,
  omit,
  validateLimit,
  type Item,
} from "./internal";
import type { RunRecord } from "./records";
import { ALLOWED_TRANSITIONS, RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from "./schema";
import {
  validateFlowName,
  validateFlowVersion,
  validateIdempotencyKey,
  validateOrgId,
  validateRunId,
} from "./validate";

/** Where persistence reports what it had to drop (never silently). */
export interface PersistenceLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

export const defaultPersistenceLogger: PersistenceLogger = {
  warn(message, fields) {
    process.stderr.write(
      `${JSON.stringify({ level: "warn", timestamp: new Date().toISOString(), message, ...fields })}\n`,
    );
  },
};

const INTERNAL_ATTRIBUTES = ["org_flow", "org_status", "active_status"] as const;

/** Written only by create/transition; never through `fields`. */
const PROTECTED_FIELDS = new Set<string>([
  "run_id",
  "org_id",
  "flow_name",
  "status",
  "created_at",
  "updated_at",
  ...INTERNAL_ATTRIBUTES,
]);

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
const IDEMPOTENCY_PREFIX = "idempotency#";
const IDEMPOTENCY_RECORD_TYPE = "idempotency";

/** Task states written per UpdateItem: keeps the expression far below DynamoDB's 4 KB limit. */
export const MAX_TASK_STATES_PER_UPDATE = 100;
/**
 * A task's `error` is cut to this many characters in the run record (the full error and stack
 * are in the logs and the traceback object). With it a task state stays under ~1.3 KB, so
 * about 300 tasks with long errors, or thousands without, fit in the 400 KB item.
 */
export const MAX_TASK_ERROR_CHARS = 1000;

const ORG_ID_CACHE_SIZE = 10_000;

export interface RunListQuery {
  orgId: string;
  flowName?: string;
  status?: RunStatus;
  /** 1..100, default 25. */
  limit?: number;
  nextToken?: string;
}

export interface ActiveRunQuery {
  status: "QUEUED" | "RUNNING";
  /** ISO timestamp: only runs whose last write is older. */
  updatedBefore?: string;
  /** 1..100, default 25. */
  limit?: number;
  nextToken?: string;
}

export interface RunPage {
  items: RunRecord[];
  nextToken?: string;
}

export type IdempotencyClaim = { claimed: true } | { claimed: false; runId: string };

function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === "string" && (RUN_STATUSES as readonly string[]).includes(value);
}

function assertWritableFields(fields: Partial<RunRecord>, operation: string): void {
  for (const name of Object.keys(fields)) {
    if (PROTECTED_FIELDS.has(name)) {
      // A programming error, not user input: the caller must use the right operation.
      throw new Error(
        `${operation} cannot set ${name}: ${name === "status" ? "use transition()" : "it is set by create() or derived"}`,
      );
    }
  }
}

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

class UpdateBuilder {
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;

  set(attribute: string, value: unknown): void {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    this.values[`:a${i}`] = value;
    this.sets.push(`#a${i} = :a${i}`);
  }
  remove(attribute: string): void {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    this.removes.push(`#a${i}`);
  }
  value(value: unknown): string {
    const i = this.n++;
    this.values[`:a${i}`] = value;
    return `:a${i}`;
  }
  name(attribute: string): string {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    return `#a${i}`;
  }
  setFields(fields: Partial<RunRecord>): void {
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) this.set(key, value);
    }
  }
  has(attribute: string): boolean {
    return Object.values(this.names).includes(attribute);
  }
  expression(): string {
    return [
      this.sets.length > 0 ? `SET ${this.sets.join(", ")}` : "",
      this.removes.length > 0 ? `REMOVE ${this.removes.join(", ")}` : "",
    ]
      .filter((s) => s.length > 0)
      .join(" ");
  }
}

export class RunRepository {
  /** run_id -> org_id: a run's org never changes, so transitions need not re-read it. */
  private readonly orgIds = new Map<string, string>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly logger: PersistenceLogger = defaultPersistenceLogger,
  ) {}

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
      org_flow: `${record.org_id}#${record.flow_name}`,
      org_status: `${record.org_id}#${record.status}`,
    };
    if (!isTerminal(record.status)) item.active_status = record.status;
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
    if (fromList.length === 0) throw new Error("transition() needs at least one 'from' status");
    for (const status of fromList) {
      if (!ALLOWED_TRANSITIONS[status]?.includes(to)) {
        throw new Error(`invalid run status transition ${status} -> ${to}`);
      }
    }
    assertWritableFields(fields, "transition()");
    validateRunId(runId);
    const orgId = await this.orgOf(runId);
    if (orgId === undefined) return undefined;

    const now = new Date().toISOString();
    const update = new UpdateBuilder();
    update.setFields(fields);
    update.set("status", to);
    update.set("org_status", `${orgId}#${to}`);
    update.set("updated_at", now);
    if (to === "RUNNING" && fields.started_at === undefined) update.set("started_at", now);
    if (isTerminal(to)) {
      if (fields.completed_at === undefined) update.set("completed_at", now);
      update.remove("active_status");
    } else {
      update.set("active_status", to);
    }
    const statusName = update.name("status");
    const fromValues = fromList.map((s) => update.value(s));
    const condition = `${statusName} IN (${fromValues.join(", ")}) AND ${update.name("org_id")} = ${update.value(orgId)}`;
    return this.conditionalUpdate(runId, update, condition);
  }

  /** Sets non-status fields (task_arn, log_stream, exit_code, ...). Undefined if the run is missing. */
  async update(runId: string, fields: Partial<RunRecord>): Promise<RunRecord | undefined> {
    assertWritableFields(fields, "update()");
    validateRunId(runId);
    const update = new UpdateBuilder();
    update.setFields(fields);
    update.set("updated_at", new Date().toISOString());
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
    update.set("updated_at", new Date().toISOString());
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
    validateRunId(runId);
    const entries = Object.entries(states);
    for (let i = 0; i < entries.length; i += MAX_TASK_STATES_PER_UPDATE) {
      await this.writeTaskStates(runId, entries.slice(i, i + MAX_TASK_STATES_PER_UPDATE));
    }
  }

  async list(q: RunListQuery): Promise<RunPage> {
    validateOrgId(q.orgId, "orgId");
    if (q.flowName !== undefined) validateFlowName(q.flowName, "flowName");
    if (q.status !== undefined && !isRunStatus(q.status)) {
      throw new ValidationError(`status must be one of ${RUN_STATUSES.join(", ")}`, "status");
    }
    const limit = validateLimit(q.limit);
    let input: QueryCommandInput;
    let partition: { name: string; value: string };
    if (q.flowName !== undefined) {
      partition = { name: "org_flow", value: `${q.orgId}#${q.flowName}` };
      input = {
        TableName: this.tableName,
        IndexName: "by_org_flow",
        KeyConditionExpression: "org_flow = :p",
        ExpressionAttributeValues: { ":p": partition.value },
      };
      if (q.status !== undefined) {
        input.FilterExpression = "#status = :status";
        input.ExpressionAttributeNames = { "#status": "status" };
        input.ExpressionAttributeValues = {
          ...input.ExpressionAttributeValues,
          ":status": q.status,
        };
      }
    } else if (q.status !== undefined) {
      partition = { name: "org_status", value: `${q.orgId}#${q.status}` };
      input = {
        TableName: this.tableName,
        IndexName: "by_org_status",
        KeyConditionExpression: "org_status = :p",
        ExpressionAttributeValues: { ":p": partition.value },
      };
    } else {
      partition = { name: "org_id", value: q.orgId };
      input = {
        TableName: this.tableName,
        IndexName: "by_org",
        KeyConditionExpression: "org_id = :p",
        ExpressionAttributeValues: { ":p": partition.value },
      };
    }
    input.ScanIndexForward = false;
    return this.page(
      input,
      partition,
      "created_at",
      limit,
      q.nextToken,
      input.FilterExpression !== undefined,
    );
  }

  /** QUEUED or RUNNING runs, least recently updated first (what a reconciliation sweep wants). */
  async listActive(q: ActiveRunQuery): Promise<RunPage> {
    if (q.status !== "QUEUED" && q.status !== "RUNNING") {
      throw new ValidationError("status must be QUEUED or RUNNING", "status");
    }
    const limit = validateLimit(q.limit);
    const partition = { name: "active_status", value: q.status };
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: "by_active_status",
      KeyConditionExpression:
        q.updatedBefore !== undefined
          ? "active_status = :p AND updated_at < :before"
          : "active_status = :p",
      ExpressionAttributeValues: {
        ":p": q.status,
        ...(q.updatedBefore !== undefined ? { ":before": q.updatedBefore } : {}),
      },
      ScanIndexForward: true,
    };
    return this.page(input, partition, "updated_at", limit, q.nextToken, false);
  }

  /**
   * Claims an idempotency key for 24 hours. The first launch wins; later ones within the window
   * get the first run's id. An expired claim is taken over (DynamoDB TTL deletes lazily, so
   * `expires_at` is checked here rather than trusted to be gone).
   */
  async claimIdempotencyKey(
    orgId: string,
    key: string,
    runId: string,
    now: Date = new Date(),
  ): Promise<IdempotencyClaim> {
    validateOrgId(orgId);
    validateIdempotencyKey(key);
    validateRunId(runId);
    const id = `${IDEMPOTENCY_PREFIX}${orgId}#${key}`;
    const nowSeconds = Math.floor(now.getTime() / 1000);
    // Two attempts: the competing claim may be released between our put and our read.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              run_id: id,
              record_type: IDEMPOTENCY_RECORD_TYPE,
              target_run_id: runId,
              claimed_at: now.toISOString(),
              expires_at: nowSeconds + IDEMPOTENCY_TTL_SECONDS,
            },
            ConditionExpression: "attribute_not_exists(run_id) OR expires_at <= :now",
            ExpressionAttributeValues: { ":now": nowSeconds },
          }),
        );
        return { claimed: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { run_id: id }, ConsistentRead: true }),
      );
      const existing = out.Item;
      if (
        existing &&
        typeof existing.target_run_id === "string" &&
        Number(existing.expires_at) > nowSeconds
      ) {
        return { claimed: false, runId: existing.target_run_id };
      }
    }
    throw new ConflictError(
      `idempotency key ${key} is being claimed concurrently; retry the launch`,
    );
  }

  /** Releases a claim, only if it still points to `runId` (a failed launch frees its key). */
  async releaseIdempotencyKey(orgId: string, key: string, runId: string): Promise<void> {
    validateOrgId(orgId);
    validateIdempotencyKey(key);
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { run_id: `${IDEMPOTENCY_PREFIX}${orgId}#${key}` },
          ConditionExpression: "target_run_id = :run",
          ExpressionAttributeValues: { ":run": runId },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
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

  /**
   * One page of a GSI query. Tokens are built from the last returned item (table key + index
   * key, exactly what DynamoDB's LastEvaluatedKey holds), so a page can stop mid-way through
   * a DynamoDB page when a filter is in play. The last page may be empty.
   */
  private async page(
    input: QueryCommandInput,
    partition: { name: string; value: string },
    sortAttribute: "created_at" | "updated_at",
    limit: number,
    nextToken: string | undefined,
    filtered: boolean,
  ): Promise<RunPage> {
    const keyAttributes = ["run_id", partition.name, sortAttribute];
    let start: Record<string, unknown> | undefined =
      nextToken !== undefined
        ? decodeToken(nextToken, { attributes: keyAttributes, partition })
        : undefined;
    const items: RunRecord[] = [];
    let more = false;
    for (;;) {
      const out = await this.doc.send(
        new QueryCommand({
          ...input,
          // With a filter, Limit counts items before filtering: read in larger steps.
          Limit: filtered ? 100 : limit - items.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) {
        if (items.length === limit) {
          more = true;
          break;
        }
        const record = this.toRecord(item);
        if (record) items.push(record);
      }
      start = out.LastEvaluatedKey;
      if (items.length >= limit) {
        more = more || start !== undefined;
        break;
      }
      if (!start) break;
    }
    const last = items[items.length - 1];
    if (!more || !last) return { items };
    return {
      items,
      nextToken: encodeToken({
        run_id: last.run_id,
        [partition.name]: partition.value,
        [sortAttribute]: last[sortAttribute],
      }),
    };
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

  private async writeTaskStates(
    runId: string,
    entries: ReadonlyArray<[string, TaskState]>,
    withoutErrors = false,
  ): Promise<void> {
    const names: Record<string, string> = {
      "#ts": "task_states",
      "#org": "org_id",
      "#u": "updated_at",
    };
    const values: Record<string, unknown> = { ":u": new Date().toISOString() };
    const sets = entries.map(([taskId, state], i) => {
      names[`#t${i}`] = taskId;
      const compact = compactTaskState(state);
      if (withoutErrors && compact.error !== undefined)
        compact.error = "[omitted: run record size limit]";
      values[`:t${i}`] = compact;
      return `#ts.#t${i} = :t${i}`;
    });
    const send = () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: runId },
          UpdateExpression: `SET ${sets.join(", ")}, #u = :u`,
          ConditionExpression: "attribute_exists(#org)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    try {
      await send();
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
        await this.writeTaskStates(runId, entries, withoutErrors);
        return;
      }
      if (!isValidationException(error, /item size/i)) throw error;
      if (!withoutErrors) {
        await this.writeTaskStates(runId, entries, true);
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
