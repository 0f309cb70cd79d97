/**
 * Listing runs: which index answers which question, and paging through it with opaque tokens.
 * Idempotency records share the table but carry no index keys, so no listing returns them.
 */
import {
  QueryCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ValidationError } from "../errors";
import { decodeToken, encodeToken, validateLimit } from "./internal";
import type { RunRecord } from "./records";
import { isRunStatus } from "./run-state";
import { RUN_STATUSES, type RunStatus } from "./schema";
import { validateFlowName, validateOrgId, validateRunId } from "../identifiers";

export interface RunListQuery {
  orgId: string;
  flowName?: string;
  status?: RunStatus;
  /** The child runs of this run (an isolated map's items), oldest first. */
  parentRunId?: string;
  /**
   * With `parentRunId`: only children created at or after this ISO time (a key condition on
   * the index's sort key, so the older ones are not read at all, nor paid for).
   */
  createdFrom?: string;
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

/** A validated GSI query: the request, its partition, and how pages are cut. */
export interface RunIndexQuery {
  readonly input: QueryCommandInput;
  readonly partition: { readonly name: string; readonly value: string };
  readonly sortAttribute: "created_at" | "updated_at";
  readonly limit: number;
  /** With a filter, DynamoDB's Limit counts items before filtering. */
  readonly filtered: boolean;
}

/** An org's runs, newest first: by flow (filtered by status), by status, or all. */
export function listRunsQuery(tableName: string, q: RunListQuery): RunIndexQuery {
  validateOrgId(q.orgId, "orgId");
  if (q.flowName !== undefined) validateFlowName(q.flowName, "flowName");
  if (q.status !== undefined && !isRunStatus(q.status)) {
    throw new ValidationError(`status must be one of ${RUN_STATUSES.join(", ")}`, "status");
  }
  const limit = validateLimit(q.limit);
  if (q.parentRunId !== undefined) return childRunsQuery(tableName, q, limit);
  if (q.createdFrom !== undefined) {
    throw new ValidationError("createdFrom: only with parentRunId", "createdFrom");
  }
  let input: QueryCommandInput;
  let partition: { name: string; value: string };
  if (q.flowName !== undefined) {
    partition = { name: "org_flow", value: `${q.orgId}#${q.flowName}` };
    input = {
      TableName: tableName,
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
      TableName: tableName,
      IndexName: "by_org_status",
      KeyConditionExpression: "org_status = :p",
      ExpressionAttributeValues: { ":p": partition.value },
    };
  } else {
    partition = { name: "org_id", value: q.orgId };
    input = {
      TableName: tableName,
      IndexName: "by_org",
      KeyConditionExpression: "org_id = :p",
      ExpressionAttributeValues: { ":p": partition.value },
    };
  }
  input.ScanIndexForward = false;
  return {
    input,
    partition,
    sortAttribute: "created_at",
    limit,
    filtered: input.FilterExpression !== undefined,
  };
}

/**
 * A run's children, in launch order (their correlation ids are `<parent>:<i>`). Filtered by
 * org, so another org's run id lists nothing; flow and status narrow further.
 */
function childRunsQuery(tableName: string, q: RunListQuery, limit: number): RunIndexQuery {
  const parentRunId = validateRunId(q.parentRunId, "parent_run_id");
  const filters = ["org_id = :org"];
  const values: Record<string, unknown> = { ":p": parentRunId, ":org": q.orgId };
  if (q.createdFrom !== undefined) {
    if (Number.isNaN(Date.parse(q.createdFrom))) {
      throw new ValidationError("createdFrom: must be an ISO timestamp", "createdFrom");
    }
    values[":from"] = q.createdFrom;
  }
  const names: Record<string, string> = {};
  if (q.flowName !== undefined) {
    filters.push("flow_name = :flow");
    values[":flow"] = q.flowName;
  }
  if (q.status !== undefined) {
    filters.push("#status = :status");
    names["#status"] = "status";
    values[":status"] = q.status;
  }
  return {
    input: {
      TableName: tableName,
      IndexName: "by_parent",
      KeyConditionExpression:
        q.createdFrom !== undefined
          ? "parent_run_id = :p AND created_at >= :from"
          : "parent_run_id = :p",
      FilterExpression: filters.join(" AND "),
      ExpressionAttributeValues: values,
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      ScanIndexForward: true,
    },
    partition: { name: "parent_run_id", value: parentRunId },
    sortAttribute: "created_at",
    limit,
    filtered: true,
  };
}

/** QUEUED or RUNNING runs, least recently updated first. */
export function activeRunsQuery(tableName: string, q: ActiveRunQuery): RunIndexQuery {
  if (q.status !== "QUEUED" && q.status !== "RUNNING") {
    throw new ValidationError("status must be QUEUED or RUNNING", "status");
  }
  const limit = validateLimit(q.limit);
  return {
    input: {
      TableName: tableName,
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
    },
    partition: { name: "active_status", value: q.status },
    sortAttribute: "updated_at",
    limit,
    filtered: false,
  };
}

/**
 * One page of a GSI query. Tokens are built from the last returned item (table key + index
 * key, exactly what DynamoDB's LastEvaluatedKey holds), so a page can stop mid-way through
 * a DynamoDB page when a filter is in play. The last page may be empty.
 */
export async function queryRunPage(
  doc: DynamoDBDocumentClient,
  query: RunIndexQuery,
  page: { readonly nextToken?: string | undefined },
  toRecord: (item: Record<string, unknown>) => RunRecord | undefined,
): Promise<RunPage> {
  const { input, partition, sortAttribute, limit, filtered } = query;
  const keyAttributes = ["run_id", partition.name, sortAttribute];
  let start: Record<string, unknown> | undefined =
    page.nextToken !== undefined
      ? decodeToken(page.nextToken, { attributes: keyAttributes, partition })
      : undefined;
  const items: RunRecord[] = [];
  let more = false;
  for (;;) {
    const out = await doc.send(
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
      const record = toRecord(item);
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
