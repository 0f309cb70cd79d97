import { ConflictError, FlowNotFoundError, ValidationError } from "../../lib/errors";
import { isSemverVersion } from "../../lib/persistence/flows";
import { Persistence } from "../../lib/persistence/persistence";
import type { FlowRecord } from "../../lib/persistence/records";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { uniqueOrg } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(() => env.close());

function flow(
  org: string,
  name: string,
  version: string,
  overrides: Partial<FlowRecord> = {},
): FlowRecord {
  return {
    org_id: org,
    flow_name: name,
    flow_version: version,
    spec: JSON.stringify({ spec_version: 1, name, version }),
    artifact_s3_uri: `s3://dagy-artifacts/flows/${name}/${version}/artifact.zip`,
    artifact_sha256: "1".repeat(64),
    is_semver: false,
    registered_at: "2024-01-01T00:00:00.000Z",
    ...overrides,
  };
}

describe("put", () => {
  it("stores a version and computes is_semver", async () => {
    const org = uniqueOrg();
    await persistence.flows.put(flow(org, "etl_pipeline", "1.0.0"));
    expect(await persistence.flows.get(org, "etl_pipeline", "1.0.0")).toEqual(
      flow(org, "etl_pipeline", "1.0.0", { is_semver: true }),
    );
  });

  it("re-registering the same bytes is a no-op; other bytes are a conflict", async () => {
    const org = uniqueOrg();
    await persistence.flows.put(flow(org, "etl_pipeline", "1.0.0"));
    await expect(
      persistence.flows.put(
        flow(org, "etl_pipeline", "1.0.0", { registered_at: "2030-01-01T00:00:00.000Z" }),
      ),
    ).resolves.toBeUndefined();
    expect((await persistence.flows.get(org, "etl_pipeline", "1.0.0"))?.registered_at).toBe(
      "2024-01-01T00:00:00.000Z",
    );
    const other = flow(org, "etl_pipeline", "1.0.0", { artifact_sha256: "2".repeat(64) });
    await expect(persistence.flows.put(other)).rejects.toThrow(ConflictError);
    await expect(persistence.flows.put(other)).rejects.toThrow(
      `flow etl_pipeline version 1.0.0 is already registered with different content (sha256 ${"1".repeat(64)}); register a new version`,
    );
    expect((await persistence.flows.get(org, "etl_pipeline", "1.0.0"))?.artifact_sha256).toBe(
      "1".repeat(64),
    );
  });

  it("rejects invalid names and versions", async () => {
    const org = uniqueOrg();
    await expect(persistence.flows.put(flow(org, "etl#x", "1.0.0"))).rejects.toThrow(
      ValidationError,
    );
    await expect(persistence.flows.put(flow(org, "etl", "1.0.0/../x"))).rejects.toThrow(
      /flow_version "1.0.0\/..\/x" is invalid/,
    );
    await expect(
      persistence.flows.put(flow(org, "etl", "1.0.0", { artifact_sha256: "xyz" })),
    ).rejects.toThrow(/artifact_sha256/);
  });
});

describe("versions and latest", () => {
  let org: string;
  beforeAll(async () => {
    org = uniqueOrg();
    const versions: Array<[string, string]> = [
      ["1.0.0", "2024-01-01T00:00:00.000Z"],
      ["1.10.0", "2024-01-02T00:00:00.000Z"],
      ["1.2.0", "2024-01-03T00:00:00.000Z"],
      ["2.0.0-rc.1", "2024-01-04T00:00:00.000Z"],
      ["dev-branch", "2024-01-05T00:00:00.000Z"],
      ["experiment", "2024-01-06T00:00:00.000Z"],
    ];
    for (const [version, registered_at] of versions) {
      await persistence.flows.put(flow(org, "etl", version, { registered_at }));
    }
    // A flow whose name is a prefix of the other must not leak into its versions.
    await persistence.flows.put(flow(org, "etl_v2", "9.0.0"));
    await persistence.flows.put(flow(org, "scratch", "dev-only"));
    await persistence.flows.put(flow(org, "beta_only", "0.1.0-beta.1"));
    await persistence.flows.put(flow(org, "beta_only", "0.1.0-beta.2"));
  });

  it("latest is the highest release: 1.10.0 beats 1.2.0, and a release candidate does not count", async () => {
    expect((await persistence.flows.resolve(org, "etl")).flow_version).toBe("1.10.0");
    expect((await persistence.flows.resolve(org, "etl", "latest")).flow_version).toBe("1.10.0");
  });

  it("a prerelease is latest only when no release exists", async () => {
    expect((await persistence.flows.resolve(org, "beta_only")).flow_version).toBe("0.1.0-beta.2");
  });

  it("non-semver versions resolve only by exact name", async () => {
    expect((await persistence.flows.resolve(org, "etl", "dev-branch")).flow_version).toBe(
      "dev-branch",
    );
    await expect(persistence.flows.resolve(org, "scratch")).rejects.toThrow(
      /flow scratch has no semantic version to resolve "latest" for org .*: dev-only/,
    );
  });

  it("explains what is registered when a version or flow is missing", async () => {
    await expect(persistence.flows.resolve(org, "etl", "3.0.0")).rejects.toThrow(FlowNotFoundError);
    await expect(persistence.flows.resolve(org, "etl", "3.0.0")).rejects.toThrow(
      /flow etl version 3.0.0 is not registered for org .*; registered versions: 2.0.0-rc.1, 1.10.0, 1.2.0, 1.0.0, experiment, dev-branch/,
    );
    await expect(persistence.flows.resolve(org, "nothing_here")).rejects.toThrow(
      /flow nothing_here is not registered for org/,
    );
    // Another org sees none of these.
    await expect(persistence.flows.resolve(uniqueOrg(), "etl")).rejects.toThrow(FlowNotFoundError);
  });

  it("listVersions: highest semver first, then non-semver newest first", async () => {
    const versions = await persistence.flows.listVersions(org, "etl");
    expect(versions.map((v) => v.flow_version)).toEqual([
      "2.0.0-rc.1",
      "1.10.0",
      "1.2.0",
      "1.0.0",
      "experiment",
      "dev-branch",
    ]);
  });

  it("listFlows summarizes each flow", async () => {
    expect(await persistence.flows.listFlows(org)).toEqual([
      { flow_name: "beta_only", latest_version: "0.1.0-beta.2", versions: 2 },
      { flow_name: "etl", latest_version: "1.10.0", versions: 6 },
      { flow_name: "etl_v2", latest_version: "9.0.0", versions: 1 },
      { flow_name: "scratch", versions: 1 },
    ]);
  });
});

describe("isSemverVersion", () => {
  it("accepts canonical semantic versions only", () => {
    expect(isSemverVersion("1.2.3")).toBe(true);
    expect(isSemverVersion("2.0.0-rc.1")).toBe(true);
    expect(isSemverVersion("1.0.0+build.7")).toBe(true);
    expect(isSemverVersion("v1.2.3")).toBe(false);
    expect(isSemverVersion("1.2")).toBe(false);
    expect(isSemverVersion("dev-branch")).toBe(false);
  });
});
