import { GetCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/**
 * run_id -> org_id for the runs this repository has seen. A run's org never changes, so a
 * status transition (whose index attributes derive from the org) need not re-read it. Bounded:
 * past `capacity` entries the oldest is dropped.
 */
export class RunOrgCache {
  private readonly orgIds = new Map<string, string>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly capacity: number,
  ) {}

  remember(runId: string, orgId: string): void {
    if (this.orgIds.has(runId)) return;
    if (this.orgIds.size >= this.capacity) {
      const oldest = this.orgIds.keys().next();
      if (!oldest.done) this.orgIds.delete(oldest.value);
    }
    this.orgIds.set(runId, orgId);
  }

  /** The run's org: from the cache, else one consistent read of `org_id`; undefined if missing. */
  async orgOf(runId: string): Promise<string | undefined> {
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
    this.remember(runId, orgId);
    return orgId;
  }
}
