import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveTarget } from "../../lib/cli/target";
import { ConfigurationError } from "../../lib/errors";

describe("where lifecycle commands go", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dagy-target-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("defaults to the local platform on 127.0.0.1:8787 with .dagy under the cwd", () => {
    expect(resolveTarget({}, {}, dir)).toEqual({
      kind: "local",
      apiUrl: "http://127.0.0.1:8787",
      dataDir: join(dir, ".dagy"),
    });
    expect(resolveTarget({ port: "9000" }, {}, dir)).toMatchObject({
      apiUrl: "http://127.0.0.1:9000",
    });
    expect(resolveTarget({}, { DAGY_PORT: "9100" }, dir)).toMatchObject({
      apiUrl: "http://127.0.0.1:9100",
    });
    expect(() => resolveTarget({ port: "http" }, {}, dir)).toThrow(/--port: "http" is not a port/);
  });

  it("maps a `cdk deploy --outputs-file` document to the stack's DAGY_* variables", async () => {
    const file = join(dir, "cdk-outputs.json");
    await writeFile(
      file,
      JSON.stringify({
        "Dagy-production": {
          DagyArtifactBucket: "dagy-artifacts-123",
          DagyTracesBucket: "dagy-traces-123",
          DagyRunsTable: "dagy-production-runs",
          DagyEcsClusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
          DagyLaunchFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:launch",
          SomethingElse: "ignored",
        },
      }),
    );
    const target = resolveTarget({ outputs: "cdk-outputs.json" }, { AWS_REGION: "eu-west-1" }, dir);
    expect(target).toEqual({
      kind: "aws",
      source: "cdk-outputs.json",
      env: {
        DAGY_ARTIFACT_BUCKET: "dagy-artifacts-123",
        DAGY_TRACES_BUCKET: "dagy-traces-123",
        DAGY_RUNS_TABLE: "dagy-production-runs",
        DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
        DAGY_LAUNCH_FUNCTION_ARN: "arn:aws:lambda:us-east-1:123456789012:function:launch",
        AWS_REGION: "eu-west-1",
      },
    });
  });

  it("asks which stack when the outputs file holds several", async () => {
    const file = join(dir, "two.json");
    await writeFile(file, JSON.stringify({ A: {}, B: {} }));
    expect(() => resolveTarget({ outputs: file }, {}, dir)).toThrow(ConfigurationError);
    expect(() => resolveTarget({ outputs: file }, {}, dir)).toThrow(/choose one with --stack/);
    expect(() => resolveTarget({ outputs: file, stack: "A" }, {}, dir)).toThrow(
      /lacks the Dagy outputs/,
    );
  });

  it("uses DAGY_* stack variables from the environment, but not local endpoints", () => {
    const stack = { DAGY_ARTIFACT_BUCKET: "b", DAGY_RUNS_TABLE: "t", DAGY_TRACES_BUCKET: "tr" };
    expect(resolveTarget({}, stack, dir)).toMatchObject({
      kind: "aws",
      source: "DAGY_* variables",
    });
    expect(
      resolveTarget({}, { ...stack, DAGY_DYNAMODB_ENDPOINT: "http://127.0.0.1:4567" }, dir).kind,
    ).toBe("local");
    expect(resolveTarget({ url: "https://api.example.com/" }, stack, dir)).toEqual({
      kind: "http",
      apiUrl: "https://api.example.com",
    });
  });
});
