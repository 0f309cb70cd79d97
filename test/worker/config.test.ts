/** The worker's environment contract: what it reads, and errors that name the variable. */
import { ConfigurationError } from "../../lib/errors";
import { parseWorkerConfig, peekRunId, stopDeadlineMs } from "../../lib/worker/config";
import { createRedactor } from "../../lib/log";

const SHA = "a".repeat(64);

const BASE = {
  DAGY_RUN_ID: "run-1",
  DAGY_ORG_ID: "acme-corp",
  DAGY_FLOW_NAME: "etl_pipeline",
  DAGY_FLOW_VERSION: "1.0.0",
  DAGY_ARTIFACT_URI: "s3://artifacts/flows/etl_pipeline/1.0.0/artifact.zip",
  DAGY_ARTIFACT_SHA256: SHA,
  DAGY_ENVIRONMENT: "production",
  DAGY_CORRELATION_ID: "corr-1",
  DAGY_PARAMETERS: '{"date":"2024-01-01"}',
  DAGY_RUNS_TABLE: "dagy-runs",
  DAGY_TRACES_BUCKET: "traces",
  DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker",
  AWS_REGION: "eu-west-1",
};

describe("parseWorkerConfig", () => {
  it("reads the run's identity, parameters, packages and secrets as ECS passes them", () => {
    const config = parseWorkerConfig({
      ...BASE,
      DAGY_DEP_PACKAGE_URIS: "s3://a/dep-packages/x.zip, s3://a/dep-packages/y.tar.gz",
      DAGY_SECRET_NAMES: '["API_KEY","DB_PASSWORD"]',
      DB_PASSWORD: "hunter2",
      API_KEY: "sk-123",
      DAGY_MAX_PARALLELISM: "4",
    });
    expect(config).toMatchObject({
      runId: "run-1",
      orgId: "acme-corp",
      flowName: "etl_pipeline",
      flowVersion: "1.0.0",
      artifactSha256: SHA,
      environment: "production",
      correlationId: "corr-1",
      parameters: { date: "2024-01-01" },
      depPackageUris: ["s3://a/dep-packages/x.zip", "s3://a/dep-packages/y.tar.gz"],
      secretNames: ["API_KEY", "DB_PASSWORD"],
      secretValues: ["sk-123", "hunter2"],
      maxParallelism: 4,
      logGroup: "/ecs/dagy-worker",
      logShipping: true,
      region: "eu-west-1",
    });
  });

  it("ships logs to CloudWatch only in AWS: off with local endpoints or DAGY_LOG_SHIPPING=off", () => {
    expect(parseWorkerConfig(BASE).logShipping).toBe(true);
    expect(
      parseWorkerConfig({ ...BASE, DAGY_DYNAMODB_ENDPOINT: "http://127.0.0.1:4567" }).logShipping,
    ).toBe(false);
    expect(parseWorkerConfig({ ...BASE, DAGY_LOG_SHIPPING: "off" }).logShipping).toBe(false);
    const { DAGY_ECS_LOG_GROUP: _group, ...noGroup } = BASE;
    expect(parseWorkerConfig(noGroup).logShipping).toBe(false);
  });

  it("drains after SIGTERM within the container's stop timeout, not 4.5 s (finding 12)", () => {
    // The stack's task definition: stopTimeout 120 s and DAGY_STOP_TIMEOUT_SECONDS=120.
    const config = parseWorkerConfig({ ...BASE, DAGY_STOP_TIMEOUT_SECONDS: "120" });
    expect(config.stopTimeoutSeconds).toBe(120);
    expect(stopDeadlineMs(config.stopTimeoutSeconds)).toBe(110_000);
    // Unset: ECS's default stop timeout, 30 s.
    expect(stopDeadlineMs(parseWorkerConfig(BASE).stopTimeoutSeconds)).toBe(25_000);
    expect(stopDeadlineMs(6)).toBe(5_000);
    expect(() => parseWorkerConfig({ ...BASE, DAGY_STOP_TIMEOUT_SECONDS: "600" })).toThrow(
      /DAGY_STOP_TIMEOUT_SECONDS must be whole seconds from 2 to 120/,
    );
  });

  it("puts run status events on EventBridge only when the task definition says so", () => {
    expect(parseWorkerConfig(BASE).runStatusEvents).toBeUndefined();
    expect(
      parseWorkerConfig({ ...BASE, DAGY_RUN_STATUS_EVENTS: "eventbridge" }).runStatusEvents,
    ).toBe("eventbridge");
  });

  it("takes spilled parameters from DAGY_PARAMETERS_URI", () => {
    const { DAGY_PARAMETERS: _inline, ...rest } = BASE;
    const config = parseWorkerConfig({
      ...rest,
      DAGY_PARAMETERS_URI: "s3://artifacts/run-inputs/acme-corp/run-1/parameters.json",
    });
    expect(config.parameters).toBeUndefined();
    expect(config.parametersUri).toBe("s3://artifacts/run-inputs/acme-corp/run-1/parameters.json");
  });

  it("takes the parameters from the run record when DAGY_PARAMETERS_IN_RUN is 1", () => {
    const { DAGY_PARAMETERS: _inline, ...rest } = BASE;
    const config = parseWorkerConfig({ ...rest, DAGY_PARAMETERS_IN_RUN: "1" });
    expect(config.parameters).toBeUndefined();
    expect(config.parametersUri).toBeUndefined();
    expect(config.parametersInRun).toBe(true);
    expect(parseWorkerConfig(BASE).parametersInRun).toBeUndefined();
  });

  it.each([
    [{ DAGY_PARAMETERS_IN_RUN: "yes" }, 'DAGY_PARAMETERS_IN_RUN must be "1" or "0", got "yes"'],
    [{ DAGY_RUN_ID: "" }, "DAGY_RUN_ID is required and must not be empty"],
    [{ DAGY_RUNS_TABLE: undefined }, "DAGY_RUNS_TABLE is required and must not be empty"],
    [{ DAGY_ARTIFACT_SHA256: "abc" }, "DAGY_ARTIFACT_SHA256 must be 64 hexadecimal characters"],
    [{ DAGY_ARTIFACT_URI: "/tmp/a.zip" }, "DAGY_ARTIFACT_URI must be an s3:// URI"],
    [{ DAGY_PARAMETERS: "{nope" }, "DAGY_PARAMETERS must be valid JSON"],
    [{ DAGY_PARAMETERS: "[1]" }, "DAGY_PARAMETERS must be a JSON object"],
    [{ DAGY_SECRET_NAMES: '"DB"' }, "DAGY_SECRET_NAMES must be a JSON array of strings"],
    [{ DAGY_MAX_PARALLELISM: "0" }, 'DAGY_MAX_PARALLELISM must be a positive integer, got "0"'],
  ])("rejects %j with a message naming the variable", (override, message) => {
    const env: Record<string, string | undefined> = { ...BASE, ...override };
    expect(() => parseWorkerConfig(env)).toThrow(ConfigurationError);
    expect(() => parseWorkerConfig(env)).toThrow(message);
  });

  it("peekRunId finds the run to fail even when the rest is invalid", () => {
    expect(peekRunId({ DAGY_RUN_ID: " run-9 " })).toBe("run-9");
    expect(peekRunId({})).toBeUndefined();
  });
});

describe("createRedactor", () => {
  it("replaces raw and JSON-escaped occurrences, longest secret first", () => {
    const redact = createRedactor(['a"b', "abc", "abcdef", ""]);
    expect(redact('x abcdef y abc z a"b w a\\"b')).toBe("x *** y *** z *** w ***");
    expect(createRedactor([])("unchanged")).toBe("unchanged");
  });
});

describe("DAGY_API_AUTH (isolated maps in AWS)", () => {
  it("sigv4 with the stack's API URL: the worker signs; unset: it does not", () => {
    const url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/";
    expect(parseWorkerConfig({ ...BASE, DAGY_API_URL: url, DAGY_API_AUTH: "sigv4" })).toMatchObject(
      { apiUrl: url.slice(0, -1), apiAuth: "sigv4" },
    );
    expect(parseWorkerConfig({ ...BASE, DAGY_API_URL: url }).apiAuth).toBeUndefined();
  });

  it("refuses another scheme, naming the variable", () => {
    expect(() => parseWorkerConfig({ ...BASE, DAGY_API_AUTH: "bearer" })).toThrow(
      new ConfigurationError('DAGY_API_AUTH must be "sigv4" or unset, got "bearer"'),
    );
  });
});
