/**
 * Warm pools on Fargate (issue #14): one item per pool in the pool table (partition key `pool`,
 * no sort key), whose `idle` counts the workers waiting for an assignment.
 *
 * - A warm worker that is loaded and waiting adds itself: `ADD idle :1`.
 * - The launcher reserves one before it sends an assignment: `ADD idle :-1` on condition
 *   `idle > 0`. The condition failing means the pool is exhausted: the launch goes cold.
 * - A worker leaving without a run (SIGTERM while idle) takes itself off, on the same condition.
 *   A worker that takes an assignment does not: the launcher's reservation already did.
 *
 * Every change is one conditional UpdateItem; the count never goes below zero. It can drift
 * upwards when a worker dies without `leave()` (SIGKILL, a crashed host): the launcher then
 * reserves a worker that is gone, and the fallback (lib/reconcile/warm-fallback.ts) launches
 * the run cold once its delay has passed — slower, never lost.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { POOL_NAME_PATTERN } from "../config/warm-pools";
import { ValidationError } from "../errors";
import { isConditionalCheckFailed } from "./internal";

export { POOL_NAME_PATTERN };

export function validatePoolName(pool: unknown, field = "pool"): string {
  if (typeof pool !== "string" || !POOL_NAME_PATTERN.test(pool)) {
    throw new ValidationError(
      `${field} must be 1-64 letters, digits, '_' or '-', starting with a letter or digit`,
      field,
    );
  }
  return pool;
}

/** Prefix of the task ARN a warm dispatch records until the worker claims the run. */
export const WARM_TASK_ARN_PREFIX = "warm:";

/**
 * The placeholder task ARN of a warm dispatch: `warm:<pool>:<runId>`. The run's `task_arn` holds
 * it while the assignment waits in the pool's queue; the worker that claims the run replaces it
 * with its own ECS task ARN, on condition that it is still this placeholder.
 */
export function warmTaskArn(pool: string, runId: string): string {
  return `${WARM_TASK_ARN_PREFIX}${pool}:${runId}`;
}

/** Whether a run's task ARN is a warm dispatch's placeholder (no ECS task to describe or stop). */
export function isWarmTaskArn(taskArn: string | null | undefined): taskArn is string {
  return typeof taskArn === "string" && taskArn.startsWith(WARM_TASK_ARN_PREFIX);
}

/** The pool a placeholder names, or undefined when `taskArn` is not one. */
export function poolOfWarmTaskArn(taskArn: string | null | undefined): string | undefined {
  if (!isWarmTaskArn(taskArn)) return undefined;
  const rest = taskArn.slice(WARM_TASK_ARN_PREFIX.length);
  const end = rest.indexOf(":");
  return end > 0 ? rest.slice(0, end) : undefined;
}

export class WarmPoolRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** A worker of `pool` is loaded and waiting. */
  async addIdle(pool: string): Promise<void> {
    validatePoolName(pool);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pool },
        UpdateExpression: "ADD idle :one",
        ExpressionAttributeValues: { ":one": 1 },
      }),
    );
  }

  /**
   * Takes one idle worker of `pool`: true when one was counted (the caller must send it an
   * assignment or give it back with `addIdle`), false when the pool has none.
   */
  async reserve(pool: string): Promise<boolean> {
    return this.takeOne(pool);
  }

  /** A waiting worker leaves without a run. False when the count was already zero. */
  async removeIdle(pool: string): Promise<boolean> {
    return this.takeOne(pool);
  }

  /** The pool's idle count (0 when the pool has no item yet). Strongly consistent. */
  async idle(pool: string): Promise<number> {
    validatePoolName(pool);
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pool }, ConsistentRead: true }),
    );
    const value: unknown = out.Item?.idle;
    return typeof value === "number" ? value : 0;
  }

  private async takeOne(pool: string): Promise<boolean> {
    validatePoolName(pool);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pool },
          UpdateExpression: "ADD idle :minus",
          ConditionExpression: "idle > :zero",
          ExpressionAttributeValues: { ":minus": -1, ":zero": 0 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}
