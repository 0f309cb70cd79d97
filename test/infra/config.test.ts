import { ConfigurationError } from "../../lib/errors";
import {
  configScheduleResourceName,
  parseStackConfig,
  runtimeScheduleRulePrefix,
  stackNameFor,
} from "../../lib/infra/config";

function configError(input: unknown): string {
  try {
    parseStackConfig(input);
  } catch (error) {
    if (error instanceof ConfigurationError) return error.message;
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

const schedule = {
  name: "etl-daily",
  flowName: "etl_pipeline",
  orgId: "acme-corp",
  expression: "cron(0 9 * * ? *)",
};

describe("parseStackConfig defaults", () => {
  test("develop: small workers, one NAT gateway, short retention, data destroyed with the stack", () => {
    const config = parseStackConfig({ environment: "develop" });
    expect(config).toMatchObject({
      environment: "develop",
      appName: "dagy",
      resourcePrefix: "dagy-develop",
      workerImage: { kind: "asset" },
      vpc: { kind: "create", maxAzs: 2, natGateways: 1 },
      defaultWorkloadProfile: "small",
      apiAuth: { mode: "iam" },
      logRetentionDays: 14,
      traceExpirationDays: 14,
      workerLogGroupName: "/ecs/dagy-worker-develop",
      schedules: [],
      retainData: false,
    });
  });

  test("staging: medium workers, data deleted with the stack", () => {
    expect(parseStackConfig({ environment: "staging" })).toMatchObject({
      defaultWorkloadProfile: "medium",
      logRetentionDays: 30,
      retainData: false,
    });
  });

  test("production: large workers, a NAT gateway per AZ, the guide's log group, data retained", () => {
    expect(parseStackConfig({ environment: "production" })).toMatchObject({
      defaultWorkloadProfile: "large",
      vpc: { kind: "create", maxAzs: 2, natGateways: 2 },
      logRetentionDays: 365,
      traceExpirationDays: 90,
      workerLogGroupName: "/ecs/dagy-worker",
      retainData: true,
    });
  });

  test("lambdaImageUri (the guide's lambda_image_uri) selects a pushed worker image", () => {
    const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:v1.0.0";
    expect(
      parseStackConfig({ environment: "production", lambdaImageUri: uri }).workerImage,
    ).toEqual({
      kind: "uri",
      uri,
    });
  });

  test("explicit values win over environment defaults", () => {
    const config = parseStackConfig({
      environment: "develop",
      appName: "acme",
      defaultWorkloadProfile: "xlarge",
      logRetentionDays: 90,
      vpc: { create: true, maxAzs: 3, natGateways: 3 },
      apiAuth: { mode: "jwt", issuer: "https://auth.example.com/", audience: ["dagy"] },
      schedules: [{ ...schedule, timeZone: "Europe/Berlin", parameters: { date: "today" } }],
    });
    expect(config).toMatchObject({
      resourcePrefix: "acme-develop",
      defaultWorkloadProfile: "xlarge",
      logRetentionDays: 90,
      vpc: { kind: "create", maxAzs: 3, natGateways: 3 },
      apiAuth: {
        mode: "jwt",
        issuer: "https://auth.example.com/",
        audience: ["dagy"],
        orgClaim: "org_id",
      },
      workerLogGroupName: "/ecs/acme-worker-develop",
    });
    expect(config.schedules[0]).toEqual({
      ...schedule,
      timeZone: "Europe/Berlin",
      parameters: { date: "today" },
      enabled: true,
    });
  });

  test("names: stack, runtime schedule prefix and config schedule names", () => {
    const config = parseStackConfig({ environment: "staging" });
    expect(stackNameFor(config)).toBe("Dagy-staging");
    expect(runtimeScheduleRulePrefix(config)).toBe("dagy-staging-");
    expect(configScheduleResourceName(config, "etl-daily")).toBe("dagy-cfg-staging-etl-daily");
  });
});

describe("parseStackConfig errors name the field and what is allowed", () => {
  test("fails when the cron expression is invalid: names the schedule and the cron field", () => {
    const message = configError({
      environment: "develop",
      schedules: [schedule, { ...schedule, name: "nightly", expression: "cron(0 25 * * ? *)" }],
    });
    expect(message).toContain("schedules[1].expression:");
    expect(message).toContain('schedule "nightly"');
    expect(message).toContain(
      'hours field "25": 25 is out of range 0-23; allowed: 0-23 with , - * /',
    );
  });

  test("fails when both cron day fields are set", () => {
    const message = configError({
      environment: "develop",
      schedules: [{ ...schedule, expression: "cron(0 9 * * MON *)" }],
    });
    expect(message).toContain('schedules[0].expression: schedule "etl-daily"');
    expect(message).toContain('one of them must be "?"');
  });

  test("fails when the rate expression is invalid", () => {
    const message = configError({
      environment: "develop",
      schedules: [{ ...schedule, expression: "rate(1 hours)" }],
    });
    expect(message).toContain('schedules[0].expression: schedule "etl-daily"');
    expect(message).toContain('use "hour"');
  });

  test("fails when the time zone is not an IANA name", () => {
    const message = configError({
      environment: "develop",
      schedules: [{ ...schedule, timeZone: "Europe/Atlantis" }],
    });
    expect(message).toContain(
      'schedules[0].timeZone: schedule "etl-daily": "Europe/Atlantis" is not an IANA time zone name',
    );
  });

  test("fails when the environment name is unknown", () => {
    expect(configError({ environment: "prod" })).toContain(
      'environment: "prod" is not an environment; allowed: develop, staging, production',
    );
  });

  test("fails when the environment is missing", () => {
    expect(configError({})).toContain("environment: undefined is not an environment");
  });

  test("fails when the log retention is not a CloudWatch value", () => {
    expect(configError({ environment: "develop", logRetentionDays: 10 })).toContain(
      "logRetentionDays: must be a CloudWatch Logs retention period; allowed: 1, 3, 5, 7, 14, 30,",
    );
  });

  test("fails when two schedules share a name", () => {
    expect(configError({ environment: "develop", schedules: [schedule, schedule] })).toContain(
      'schedules[1].name: schedule name "etl-daily" is used twice',
    );
  });

  test("fails when a key is unknown (a typo is not silently ignored)", () => {
    expect(configError({ environment: "develop", logRetention: 14 })).toContain(
      'Unrecognized key: "logRetention"',
    );
  });

  test("fails when the JWT issuer is not https", () => {
    expect(
      configError({
        environment: "develop",
        apiAuth: { mode: "jwt", issuer: "http://auth.example.com", audience: ["dagy"] },
      }),
    ).toContain("apiAuth.issuer: must be an https URL");
  });

  test("fails when both workerImage and lambdaImageUri are set", () => {
    expect(
      configError({
        environment: "develop",
        workerImage: { kind: "asset" },
        lambdaImageUri: "nginx:latest",
      }),
    ).toContain("lambdaImageUri: set either workerImage or lambdaImageUri (its alias), not both");
  });

  test("fails when there are more NAT gateways than AZs", () => {
    expect(
      configError({ environment: "develop", vpc: { create: true, maxAzs: 2, natGateways: 3 } }),
    ).toContain("vpc.natGateways: must not exceed maxAzs");
  });

  test("fails when a secret ARN pattern is not a Secrets Manager ARN", () => {
    expect(
      configError({ environment: "develop", secretArnPatterns: ["arn:aws:s3:::bucket/*"] }),
    ).toContain("secretArnPatterns[0]: must be a Secrets Manager ARN");
  });

  test("warmPool: none by default in every environment; pools as configured", () => {
    for (const environment of ["develop", "staging", "production"]) {
      expect(parseStackConfig({ environment }).warmPool).toEqual([]);
    }
    expect(
      parseStackConfig({
        environment: "production",
        warmPool: [
          { profile: "small", size: 2 },
          { profile: "large", size: 50 },
        ],
      }).warmPool,
    ).toEqual([
      { profile: "small", size: 2 },
      { profile: "large", size: 50 },
    ]);
  });

  test("fails when a warm pool names an unknown profile", () => {
    expect(
      configError({ environment: "develop", warmPool: [{ profile: "tiny", size: 1 }] }),
    ).toContain(
      "warmPool[0].profile: must be a workload profile; allowed: small, medium, large, xlarge, heavy, max",
    );
  });

  test.each([0, 51, 1.5, "2"])("fails when a warm pool's size is %p", (size) => {
    expect(
      configError({ environment: "develop", warmPool: [{ profile: "small", size }] }),
    ).toContain("warmPool[0].size: must be a whole number from 1 to 50");
  });

  test("fails when two warm pools share a profile", () => {
    expect(
      configError({
        environment: "develop",
        warmPool: [
          { profile: "small", size: 1 },
          { profile: "medium", size: 1 },
          { profile: "small", size: 3 },
        ],
      }),
    ).toContain('warmPool[2].profile: profile "small" has two warm pools');
  });

  test("fails when a warm pool has an unknown key", () => {
    expect(
      configError({ environment: "develop", warmPool: [{ profile: "small", count: 2 }] }),
    ).toMatch(
      /warmPool\[0\]\.size: must be a whole number[\s\S]*warmPool\[0\]: Unrecognized key: "count"/,
    );
  });

  test("lists every problem at once", () => {
    const message = configError({
      environment: "develop",
      appName: "Bad Name",
      logRetentionDays: 2,
    });
    expect(message.split("\n").filter((line) => line.startsWith("  - "))).toHaveLength(2);
    expect(message).toContain("appName: must be 1-16 lowercase letters");
  });
});
