import { parseRuntimeConfig } from "../../lib/config/runtime";
import type { RunRecord } from "../../lib/persistence/records";
import { decide, nextLargerProfile } from "../../lib/reconcile";

const oom = {
  runId: "r",
  taskArn: "arn:t1",
  exitCode: 137,
  containerReason: "OutOfMemoryError: Container killed due to memory usage",
};

function run(fields: Partial<RunRecord>): RunRecord {
  return {
    run_id: "r",
    org_id: "o",
    flow_name: "f",
    flow_version: "1",
    status: "RUNNING",
    environment: "",
    correlation_id: "c",
    trigger_source: "api",
    artifact_s3_uri: "s3://a/b",
    artifact_sha256: "x",
    dep_package_uris: [],
    secret_names: [],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    task_arn: "arn:t1",
    ...fields,
  };
}

describe("what a stopped attempt does to its run", () => {
  it("scale_up on the largest profile ends the run, saying why", () => {
    const decision = decide(
      run({ oom_policy: "scale_up", workload_profile: "max", cpu: "16384", memory: "32768" }),
      oom,
      true,
    );
    expect(decision).toEqual({
      kind: "fail",
      note: "already on the largest workload profile (max)",
    });
  });

  it("explicit sizes scale up to the first profile with more memory", () => {
    expect(nextLargerProfile({ memory: "3072" })).toBe("large");
    expect(nextLargerProfile({ workloadProfile: "heavy", memory: "16384" })).toBe("max");
  });

  it("without a relaunch capability nothing is relaunched (the run fails as before)", () => {
    const decision = decide(
      run({}),
      { runId: "r", taskArn: "arn:t1", stopCode: "TaskFailedToStart" },
      false,
    );
    expect(decision.kind).toBe("fail");
  });

  it("an ordinary crash (exit 1) is the flow's failure, not the infrastructure's", () => {
    expect(decide(run({}), { runId: "r", taskArn: "arn:t1", exitCode: 1 }, true).kind).toBe("fail");
  });
});

describe("stack configuration of the bounds", () => {
  const base = {
    DAGY_FLOWS_TABLE: "f",
    DAGY_RUNS_TABLE: "r",
    DAGY_DEPLOYMENTS_TABLE: "d",
    DAGY_DEP_PACKAGES_TABLE: "p",
    DAGY_ARTIFACT_BUCKET: "a",
    DAGY_TRACES_BUCKET: "t",
    DAGY_ENVIRONMENT: "develop",
    DAGY_COMPUTE_BACKEND: "local",
  };

  it("reads DAGY_MAX_RELAUNCHES and the start timeout", () => {
    const config = parseRuntimeConfig(
      { ...base, DAGY_MAX_RELAUNCHES: "0", DAGY_RECONCILE_START_TIMEOUT_MINUTES: "5" },
      "reconcile",
    );
    expect(config.maxRelaunches).toBe(0);
    expect(config.reconcile.startTimeoutMs).toBe(5 * 60_000);
    expect(parseRuntimeConfig(base, "reconcile").reconcile.startTimeoutMs).toBe(10 * 60_000);
  });

  it("refuses a max_relaunches over 10, naming the variable", () => {
    expect(() => parseRuntimeConfig({ ...base, DAGY_MAX_RELAUNCHES: "11" }, "launch")).toThrow(
      /DAGY_MAX_RELAUNCHES must be a whole number from 0 to 10/,
    );
  });
});
