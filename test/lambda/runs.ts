/** Run records written straight to the runs table, as the launcher would have left them. */
import { randomUUID } from "node:crypto";
import type { Persistence } from "../../lib/persistence/persistence";
import type { RunRecord } from "../../lib/persistence/records";

export async function createRun(
  persistence: Persistence,
  fields: Partial<RunRecord> = {},
): Promise<RunRecord> {
  const now = new Date().toISOString();
  const record: RunRecord = {
    run_id: randomUUID(),
    org_id: "acme-corp",
    flow_name: "etl_pipeline",
    flow_version: "1.0.0",
    status: "QUEUED",
    environment: "production",
    correlation_id: "req-12345",
    trigger_source: "api",
    parameters: {},
    artifact_s3_uri: "s3://artifacts/flows/etl_pipeline/1.0.0/artifact.zip",
    artifact_sha256: "a".repeat(64),
    dep_package_uris: [],
    secret_names: [],
    created_at: now,
    updated_at: now,
    ...fields,
  };
  await persistence.runs.create(record);
  return record;
}
