/**
 * Idempotency records: one per (org, Idempotency-Key), in the runs table under
 * `run_id` = `idempotency#<org_id>#<key>`, expiring after 24 hours (`expires_at`, the table's
 * TTL attribute).
 *
 * As in Powertools' idempotency layer, a record carries a status and a hash of the request it
 * was claimed for: the same key with the same request gives the first run; the same key with
 * another request is a ConflictError, never the old result.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { ConflictError } from "../errors";
import { isConditionalCheckFailed } from "./internal";
import { validateIdempotencyKey, validateOrgId, validateRunId } from "../identifiers";

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** `record_type` of idempotency items, which share the runs table with runs. */
export const IDEMPOTENCY_RECORD_TYPE = "idempotency";
const IDEMPOTENCY_PREFIX = "idempotency#";

/** INPROGRESS from the claim until the run is launched (or its launch failed and freed the key). */
export type IdempotencyStatus = "INPROGRESS" | "COMPLETED";

/** The stored record, as Powertools' IdempotencyRecord: key, status, expiry, payload hash. */
export interface IdempotencyRecord {
  readonly orgId: string;
  readonly key: string;
  readonly status: IdempotencyStatus;
  /** The run the first request created. */
  readonly runId: string;
  /** SHA-256 (hex) of the canonical request; absent on records written before it existed. */
  readonly payloadHash?: string;
  readonly claimedAt: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

export type IdempotencyClaim = { claimed: true } | { claimed: false; runId: string };

export interface ClaimOptions {
  /** Hash of the canonical request: a later claim with another hash is a ConflictError. */
  readonly payloadHash?: string;
  /** Default: the repository's clock. */
  readonly now?: Date;
}

export class IdempotencyRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Claims `key` for 24 hours for `runId`. The first claim wins; a later one within the window
   * gets the first run's id, when its request hashes the same. An expired claim is taken over
   * (DynamoDB TTL deletes lazily, so `expires_at` is checked here rather than trusted to be
   * gone).
   *
   * @throws ConflictError when the key was claimed for a different request, or when claims
   *   race past three rounds
   */
  async claim(
    orgId: string,
    key: string,
    runId: string,
    options: ClaimOptions = {},
  ): Promise<IdempotencyClaim> {
    validateOrgId(orgId);
    validateIdempotencyKey(key);
    validateRunId(runId);
    const now = options.now ?? this.now();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    // A few rounds: the competing claim may be released between our put and our read.
    for (let round = 0; round < 3; round++) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              run_id: recordId(orgId, key),
              record_type: IDEMPOTENCY_RECORD_TYPE,
              status: "INPROGRESS" satisfies IdempotencyStatus,
              target_run_id: runId,
              ...(options.payloadHash !== undefined ? { payload_hash: options.payloadHash } : {}),
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
      const existing = await this.get(orgId, key);
      if (existing && existing.expiresAt > nowSeconds) {
        if (
          options.payloadHash !== undefined &&
          existing.payloadHash !== undefined &&
          existing.payloadHash !== options.payloadHash
        ) {
          throw new ConflictError(
            `idempotency key ${key} was already used for a different launch request (run ${existing.runId}); use a new key for a new request`,
          );
        }
        return { claimed: false, runId: existing.runId };
      }
    }
    throw new ConflictError(
      `idempotency key ${key} is being claimed concurrently; retry the launch`,
    );
  }

  /** The record, expired or not; undefined when there is none. */
  async get(orgId: string, key: string): Promise<IdempotencyRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { run_id: recordId(orgId, key) },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item || typeof item.target_run_id !== "string") return undefined;
    return {
      orgId,
      key,
      // Records from before statuses existed were written once the run was.
      status: item.status === "INPROGRESS" ? "INPROGRESS" : "COMPLETED",
      runId: item.target_run_id,
      ...(typeof item.payload_hash === "string" ? { payloadHash: item.payload_hash } : {}),
      claimedAt: typeof item.claimed_at === "string" ? item.claimed_at : "",
      expiresAt: Number(item.expires_at),
    };
  }

  /** Marks the claim COMPLETED (the run was launched); only while it still points to `runId`. */
  async complete(orgId: string, key: string, runId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { run_id: recordId(orgId, key) },
          UpdateExpression: "SET #status = :completed",
          ConditionExpression: "target_run_id = :run",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":completed": "COMPLETED" satisfies IdempotencyStatus,
            ":run": runId,
          },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  /** Releases a claim, only if it still points to `runId` (a failed launch frees its key). */
  async release(orgId: string, key: string, runId: string): Promise<void> {
    validateOrgId(orgId);
    validateIdempotencyKey(key);
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { run_id: recordId(orgId, key) },
          ConditionExpression: "target_run_id = :run",
          ExpressionAttributeValues: { ":run": runId },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }
}

function recordId(orgId: string, key: string): string {
  return `${IDEMPOTENCY_PREFIX}${orgId}#${key}`;
}
