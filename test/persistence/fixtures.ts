import { randomUUID } from "node:crypto";
import type { RunRecord } from "../../lib/persistence/records";

let counter = 0;

/** A unique org id per test keeps listings independent within one shared table. */
export function uniqueOrg(prefix = "org"): string {
  return `${prefix}-${process.pid}-${++counter}-${randomUUID().slice(0, 8)}`;
}

export function newRun(overrides: Partial<RunRecord> = {}): RunRecord {
  const createdAt = overrides.created_at ?? new Date().toISOString();
  return {
    run_id: randomUUID(),
    org_id: "acme-corp",
    flow_name: "etl_pipeline",
    flow_version: "1.0.0",
    status: "QUEUED",
    environment: "production",
    correlation_id: "corr-1",
    trigger_source: "api",
    artifact_s3_uri: "s3://dagy-artifacts/flows/etl_pipeline/1.0.0/artifact.zip",
    artifact_sha256: "a".repeat(64),
    dep_package_uris: [],
    secret_names: [],
    created_at: createdAt,
    updated_at: createdAt,
    ...overrides,
  };
}

/** ISO timestamps one second apart, in order. */
export function timestamps(count: number, start = Date.UTC(2024, 0, 1)): string[] {
  return Array.from({ length: count }, (_, i) => new Date(start + i * 1000).toISOString());
}
