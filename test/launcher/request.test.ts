import { InvalidLaunchRequestError } from "../../lib/errors";
import { fromWire, parseLaunchRequest, toWire } from "../../lib/launcher";

const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password";

function problem(fn: () => unknown): InvalidLaunchRequestError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidLaunchRequestError);
    return error as InvalidLaunchRequestError;
  }
  throw new Error("expected InvalidLaunchRequestError");
}

describe("launch request validation", () => {
  it("maps the guide's snake_case event to the TypeScript request", () => {
    expect(
      fromWire({
        flow_name: "etl_pipeline",
        org_id: "acme-corp",
        flow_version: "1.0.0",
        environment: "production",
        parameters: { date: "2024-03-14", source_bucket: "s3://data-input" },
        correlation_id: "req-12345",
        cpu: 2048,
        memory: "4096",
        ephemeral_storage_gib: 100,
        capacity_provider: "FARGATE_SPOT",
        secrets_env: { DB_PASSWORD: SECRET_ARN },
        idempotency_key: "order-77",
      }),
    ).toEqual({
      flowName: "etl_pipeline",
      orgId: "acme-corp",
      flowVersion: "1.0.0",
      environment: "production",
      parameters: { date: "2024-03-14", source_bucket: "s3://data-input" },
      correlationId: "req-12345",
      cpu: "2048",
      memory: "4096",
      ephemeralStorageGib: 100,
      capacityProvider: "FARGATE_SPOT",
      secretsEnv: { DB_PASSWORD: SECRET_ARN },
      idempotencyKey: "order-77",
    });
  });

  it("round-trips through toWire", () => {
    const request = {
      flowName: "etl",
      orgId: "acme",
      workloadProfile: "large" as const,
      triggerSource: "api",
    };
    expect(toWire(request)).toEqual({
      flow_name: "etl",
      org_id: "acme",
      workload_profile: "large",
      trigger_source: "api",
    });
    expect(fromWire(toWire(request))).toEqual(request);
  });

  it("refuses unknown wire fields by name (a typo is not a silent default)", () => {
    const error = problem(() =>
      fromWire({ flow_name: "etl", org_id: "acme", workload_profle: "large" }),
    );
    expect(error.field).toBe("workload_profle");
    expect(error.message).toContain("unknown field workload_profle");
  });

  it("names wire fields in snake_case and API fields in camelCase", () => {
    expect(problem(() => fromWire({ flow_name: "etl", org_id: "acme", cpu: "2048" })).field).toBe(
      "memory",
    );
    expect(
      problem(() => fromWire({ flow_name: "etl", org_id: "acme", ephemeral_storage_gib: 500 }))
        .field,
    ).toBe("ephemeral_storage_gib");
    expect(
      problem(() =>
        parseLaunchRequest({ flowName: "etl", orgId: "acme", ephemeralStorageGib: 500 }),
      ).field,
    ).toBe("ephemeralStorageGib");
  });

  it.each([
    [{ flowName: "etl pipeline" }, "flowName", "letters, digits"],
    [{ orgId: "" }, "orgId", "letters, digits"],
    [{ flowVersion: "1.0/0" }, "flowVersion", ""],
    [{ parameters: ["a"] }, "parameters", "JSON object"],
    [{ parameters: { n: Number.NaN } }, "parameters", "JSON object"],
    [{ workloadProfile: "huge" }, "workloadProfile", "small, medium, large, xlarge, heavy, max"],
    [{ workloadProfile: "large", cpu: "2048", memory: "4096" }, "cpu", "not both"],
    [{ cpu: "2048" }, "memory", "memory is required"],
    [{ memory: "4096" }, "cpu", "cpu is required"],
    [{ ephemeralStorageGib: 20 }, "ephemeralStorageGib", "from 21 to 200"],
    [{ ephemeralStorageGib: 21.5 }, "ephemeralStorageGib", "integer"],
    [{ capacityProvider: "EC2" }, "capacityProvider", "FARGATE, FARGATE_SPOT"],
    [{ extraEnvVars: { "1BAD": "x" } }, "extraEnvVars.1BAD", "names must match"],
    [{ extraEnvVars: { DAGY_RUN_ID: "x" } }, "extraEnvVars.DAGY_RUN_ID", "reserved"],
    [{ extraEnvVars: { A: 1 } }, "extraEnvVars.A", "strings"],
    [{ secretsEnv: { DAGY_TOKEN: SECRET_ARN } }, "secretsEnv.DAGY_TOKEN", "reserved"],
    [{ secretsEnv: { TOKEN: "prod/api-key" } }, "secretsEnv.TOKEN", "Secrets Manager secret ARN"],
    [
      { secretsEnv: { TOKEN: "arn:aws:secretsmanager:us-east-1:123456789:secret:prod/api-key" } },
      "secretsEnv.TOKEN",
      "12-digit account",
    ],
    [
      { extraEnvVars: { TOKEN: "x" }, secretsEnv: { TOKEN: SECRET_ARN } },
      "extraEnvVars.TOKEN",
      "also a secret",
    ],
    [{ idempotencyKey: "has space" }, "idempotencyKey", "printable ASCII"],
    [{ bogus: true }, "bogus", "unknown field"],
  ])("refuses %j, naming %s", (fields, field, allowed) => {
    const error = problem(() => parseLaunchRequest({ flowName: "etl", orgId: "acme", ...fields }));
    expect(error.field).toBe(field);
    expect(error.message).toContain(allowed);
  });

  it("accepts ECS's json-key form of a secret ARN and the guide's environments", () => {
    expect(
      parseLaunchRequest({
        flowName: "etl",
        orgId: "acme",
        environment: "staging",
        secretsEnv: { DB_USER: `${SECRET_ARN}-AbCdEf:username::` },
      }).secretsEnv,
    ).toEqual({ DB_USER: `${SECRET_ARN}-AbCdEf:username::` });
  });
});
