/** Flow versions: one item per (org, flow, version) in the flows table. */
// Per-function imports: the whole `semver` entry (ranges, classes) would land in every Lambda.
import semverGt from "semver/functions/gt";
import semverPrerelease from "semver/functions/prerelease";
import semverRcompare from "semver/functions/rcompare";
import semverValid from "semver/functions/valid";
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ConflictError, FlowNotFoundError, ValidationError } from "../errors";
import { isConditionalCheckFailed, omit, queryAll, type Item } from "./internal";
import type { FlowRecord } from "./records";
import { validateFlowName, validateFlowVersion, validateOrgId } from "../identifiers";

const INTERNAL_ATTRIBUTES = ["flow_key"] as const;

export const LATEST = "latest";

/**
 * A version is semver when it is a canonical semantic version as written (`1.2.3`,
 * `2.0.0-rc.1`, `1.0.0+build.5`); `v1.2.3` and `dev-branch` are launched by exact name only.
 */
export function isSemverVersion(version: string): boolean {
  return /^\d/.test(version) && semverValid(version) !== null;
}

function flowKey(flowName: string, version: string): string {
  return `${flowName}#${version}`;
}

/** Highest semver first (semver precedence), then non-semver by registration, newest first. */
export function compareFlowVersions(a: FlowRecord, b: FlowRecord): number {
  const aSemver = isSemverVersion(a.flow_version);
  const bSemver = isSemverVersion(b.flow_version);
  if (aSemver && bSemver) {
    const order = semverRcompare(a.flow_version, b.flow_version);
    if (order !== 0) return order;
  } else if (aSemver !== bSemver) {
    return aSemver ? -1 : 1;
  }
  return b.registered_at.localeCompare(a.registered_at);
}

/**
 * "latest": the highest release version; prereleases count only when no release exists
 * (as npm's `latest`). Non-semver versions never are "latest".
 */
export function pickLatest<T extends Pick<FlowRecord, "flow_version">>(
  versions: readonly T[],
): T | undefined {
  const semverOnes = versions.filter((v) => isSemverVersion(v.flow_version));
  const releases = semverOnes.filter((v) => semverPrerelease(v.flow_version) === null);
  const pool = releases.length > 0 ? releases : semverOnes;
  let best: T | undefined;
  for (const v of pool) {
    if (!best || semverGt(v.flow_version, best.flow_version)) best = v;
  }
  return best;
}

export interface FlowSummary {
  flow_name: string;
  /** Absent when only non-semver versions are registered. */
  latest_version?: string;
  versions: number;
}

/**
 * Where every write to the flows table is seen (the embedded platform's DynamoDB server:
 * lib/local/table-writes.ts). Given one, FlowRepository keeps each flow's versions between
 * writes; without one (Lambda, where writes come from elsewhere) every read goes to the table.
 */
export interface TableWriteCount {
  /**
   * A number that changes as each write to the table begins; undefined while one is under way
   * (the table may change at any moment then).
   */
  version(): number | undefined;
}

/** Flows whose versions are kept at once; past it the cache starts again. */
const MAX_CACHED_FLOWS = 1000;

export class FlowRepository {
  private readonly cached = new Map<string, { writes: number; records: FlowRecord[] }>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly tableWrites?: TableWriteCount,
  ) {}

  /**
   * Registers a version. Versions are immutable: the same version with the same artifact
   * sha256 is a no-op; with different bytes it is a ConflictError and nothing is written.
   */
  async put(record: FlowRecord): Promise<void> {
    validateOrgId(record.org_id);
    validateFlowName(record.flow_name);
    validateFlowVersion(record.flow_version);
    if (
      typeof record.artifact_sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(record.artifact_sha256)
    ) {
      throw new ValidationError(
        "artifact_sha256 must be 64 lowercase hex characters",
        "artifact_sha256",
      );
    }
    if (typeof record.spec !== "string") {
      throw new ValidationError(
        "spec must be the serialized flow_spec.json (a JSON string)",
        "spec",
      );
    }
    const item: Item = {
      ...record,
      is_semver: isSemverVersion(record.flow_version),
      flow_key: flowKey(record.flow_name, record.flow_version),
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: "attribute_not_exists(org_id)",
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const existing = await this.get(record.org_id, record.flow_name, record.flow_version);
      if (existing && existing.artifact_sha256 === record.artifact_sha256) return;
      throw new ConflictError(
        `flow ${record.flow_name} version ${record.flow_version} is already registered with different content (sha256 ${existing?.artifact_sha256 ?? "unknown"}); register a new version`,
      );
    }
  }

  async get(orgId: string, flowName: string, version: string): Promise<FlowRecord | undefined> {
    validateOrgId(orgId);
    validateFlowName(flowName);
    validateFlowVersion(version);
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { org_id: orgId, flow_key: flowKey(flowName, version) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? omit<FlowRecord>(out.Item, INTERNAL_ATTRIBUTES) : undefined;
  }

  /** Resolves an exact version or `latest`; FlowNotFoundError says what is registered. */
  async resolve(
    orgId: string,
    flowName: string,
    versionOrLatest: string = LATEST,
  ): Promise<FlowRecord> {
    if (versionOrLatest !== LATEST) {
      const record = await this.get(orgId, flowName, versionOrLatest);
      if (record) return record;
      const versions = await this.listVersions(orgId, flowName);
      if (versions.length === 0) throw this.notRegistered(orgId, flowName);
      throw new FlowNotFoundError(
        `flow ${flowName} version ${versionOrLatest} is not registered for org ${orgId}; registered versions: ${describeVersions(versions)}`,
      );
    }
    const versions = await this.listVersions(orgId, flowName);
    if (versions.length === 0) throw this.notRegistered(orgId, flowName);
    const latest = pickLatest(versions);
    if (!latest) {
      throw new FlowNotFoundError(
        `flow ${flowName} has no semantic version to resolve "latest" for org ${orgId}; launch one of its versions by exact name: ${describeVersions(versions)}`,
      );
    }
    return latest;
  }

  async listVersions(orgId: string, flowName: string): Promise<FlowRecord[]> {
    validateOrgId(orgId);
    validateFlowName(flowName);
    // A kept answer holds while no write to the table has begun since its read began; a read
    // that overlaps a write in any way is not kept.
    const key = `${orgId}#${flowName}`;
    const writes = this.tableWrites?.version();
    const kept = writes !== undefined ? this.cached.get(key) : undefined;
    if (kept !== undefined && kept.writes === writes) return structuredClone(kept.records);
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: "org_id = :org AND begins_with(flow_key, :prefix)",
      ExpressionAttributeValues: { ":org": orgId, ":prefix": `${flowName}#` },
    });
    const records = items
      .map((i) => omit<FlowRecord>(i, INTERNAL_ATTRIBUTES))
      .sort(compareFlowVersions);
    if (writes !== undefined && this.tableWrites?.version() === writes) {
      if (this.cached.size >= MAX_CACHED_FLOWS) this.cached.clear();
      this.cached.set(key, { writes, records: structuredClone(records) });
    }
    return records;
  }

  async listFlows(orgId: string): Promise<FlowSummary[]> {
    validateOrgId(orgId);
    // Skip the specs: a listing needs names and versions only.
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: "org_id = :org",
      ExpressionAttributeValues: { ":org": orgId },
      ProjectionExpression: "flow_name, flow_version",
    });
    const byFlow = new Map<string, Array<{ flow_version: string }>>();
    for (const item of items) {
      const name = item.flow_name as string;
      const list = byFlow.get(name) ?? [];
      list.push({ flow_version: item.flow_version as string });
      byFlow.set(name, list);
    }
    return [...byFlow.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([flow_name, versions]) => {
        const latest = pickLatest(versions);
        return {
          flow_name,
          ...(latest ? { latest_version: latest.flow_version } : {}),
          versions: versions.length,
        };
      });
  }

  private notRegistered(orgId: string, flowName: string): FlowNotFoundError {
    return new FlowNotFoundError(
      `flow ${flowName} is not registered for org ${orgId}; build and register a version first`,
    );
  }
}

function describeVersions(versions: readonly FlowRecord[]): string {
  const names = versions.map((v) => v.flow_version);
  return names.length > 10
    ? `${names.slice(0, 10).join(", ")} and ${names.length - 10} more`
    : names.join(", ");
}
