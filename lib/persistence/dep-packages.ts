/** Dependency packages: keyed by a globally unique slug, owned by one org, optionally shared. */
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { ConflictError, ValidationError } from "../errors";
import { backoffDelay, realSleep, type RetryPolicy } from "../retry";
import { parseS3Uri } from "../storage/s3-uri";
import { isConditionalCheckFailed, queryAll } from "./internal";
import type { DepPackageRecord } from "./records";
import { validateFlowVersion, validateOrgId, validateSlug } from "../identifiers";

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_MAX = 100;
const MAX_UNPROCESSED_RETRIES = 8;
/** Backoff between BatchGetItem rounds that left keys unprocessed (DynamoDB throttled them). */
const UNPROCESSED_RETRY: RetryPolicy = {
  maxAttempts: MAX_UNPROCESSED_RETRIES + 1,
  baseDelayMs: 100,
  maxDelayMs: 5000,
};

/** Whether `orgId` may use the package: the owner always, others when shared with them or `*`. */
export function mayUsePackage(pkg: DepPackageRecord, orgId: string): boolean {
  return pkg.org_id === orgId || (pkg.shared_with ?? []).some((o) => o === orgId || o === "*");
}

export class DepPackageRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Creates or updates (same owner) a package. A slug registered by another org is a
   * ConflictError: slugs are global, and one org must not replace another's package.
   */
  async put(record: DepPackageRecord): Promise<void> {
    validateSlug(record.slug);
    validateOrgId(record.org_id);
    validateFlowVersion(record.version, "version");
    parseS3Uri(record.package_s3_uri, "package_s3_uri");
    if (record.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(record.sha256)) {
      throw new ValidationError("sha256 must be 64 lowercase hex characters", "sha256");
    }
    for (const org of record.shared_with ?? []) {
      if (org !== "*") validateOrgId(org, "shared_with");
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...record },
          ConditionExpression: "attribute_not_exists(slug) OR org_id = :org",
          ExpressionAttributeValues: { ":org": record.org_id },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConflictError(
          `dep package slug ${record.slug} is already registered by another organization; choose another slug`,
        );
      }
      throw error;
    }
  }

  async get(slug: string): Promise<DepPackageRecord | undefined> {
    validateSlug(slug);
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { slug }, ConsistentRead: true }),
    );
    return out.Item as DepPackageRecord | undefined;
  }

  /** Reads many packages with BatchGetItem; missing slugs are absent from the map. */
  async getMany(slugs: readonly string[]): Promise<Map<string, DepPackageRecord>> {
    const unique = [...new Set(slugs.map((s) => validateSlug(s)))];
    const found = new Map<string, DepPackageRecord>();
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) {
      let keys: Array<Record<string, unknown>> = unique
        .slice(i, i + BATCH_GET_MAX)
        .map((slug) => ({ slug }));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > MAX_UNPROCESSED_RETRIES) {
          throw new Error(`BatchGetItem on ${this.tableName} kept returning unprocessed keys`);
        }
        if (attempt > 0) await realSleep(backoffDelay(UNPROCESSED_RETRY, attempt, Math.random));
        const out = await this.doc.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const record = item as DepPackageRecord;
          found.set(record.slug, record);
        }
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return found;
  }

  /** Packages owned by the org, by slug. */
  async listForOrg(orgId: string): Promise<DepPackageRecord[]> {
    validateOrgId(orgId);
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      IndexName: "by_org",
      KeyConditionExpression: "org_id = :org",
      ExpressionAttributeValues: { ":org": orgId },
    });
    return items as unknown as DepPackageRecord[];
  }
}
