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

describe("hostile input on the wire", () => {
  const base = { flow_name: "etl", org_id: "acme" };

  it.each([
    ["NODE_OPTIONS", "--import=data:text/javascript,process.exit(7)", "Node.js"],
    ["NODE_EXTRA_CA_CERTS", "/tmp/evil.pem", "Node.js"],
    ["LD_PRELOAD", "/tmp/evil.so", "dynamic loader"],
    ["DYLD_INSERT_LIBRARIES", "/tmp/evil.dylib", "dynamic loader"],
    ["GLIBC_TUNABLES", "glibc.malloc.mxfast=0", "dynamic loader"],
    ["PATH", "/tmp/evil", "where programs"],
    ["HOME", "/tmp", "where programs"],
    ["BASH_ENV", "/tmp/evil.sh", "shells"],
    ["IFS", "/", "shells"],
    ["AWS_ACCESS_KEY_ID", "AKIA...", "AWS SDK"],
    ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil", "AWS SDK"],
    ["ECS_CONTAINER_METADATA_URI_V4", "http://evil", "AWS SDK"],
    ["DAGY_RUN_ID", "forged", "Dagy"],
    ["HTTPS_PROXY", "http://evil:3128", "proxies"],
    ["NPM_CONFIG_REGISTRY", "http://evil", "npm"],
    ["UV_THREADPOOL_SIZE", "1024", "libuv"],
    ["OPENSSL_CONF", "/tmp/evil.cnf", "OpenSSL"],
    ["SSL_CERT_FILE", "/tmp/evil.pem", "OpenSSL"],
    ["PYTHONPATH", "/tmp", "runtimes"],
    ["PERL5OPT", "-Mevil", "runtimes"],
    ["JAVA_TOOL_OPTIONS", "-javaagent:/tmp/evil.jar", "runtimes"],
    ["MALLOC_ARENA_MAX", "1", "dynamic loader"],
  ])("extra_env_vars %s is reserved: 400 naming it", (name, value, reason) => {
    const error = problem(() => fromWire({ ...base, extra_env_vars: { [name]: value } }));
    expect(error.field).toBe(`extra_env_vars.${name}`);
    expect(error.message).toContain(`${name} is reserved`);
    expect(error.message).toContain(reason);
  });

  it.each([
    ["lower_case", "names must match"],
    ["http_proxy", "names must match"],
    ["A-B", "names must match"],
    ["9LIVES", "names must match"],
    ["", "names must match"],
    ["BAD\u0000NAME", "control characters"],
  ])("extra_env_vars name %j is refused, naming it", (name, text) => {
    const error = problem(() => fromWire({ ...base, extra_env_vars: { [name]: "x" } }));
    expect(error.field).toBe(`extra_env_vars.${name}`);
    expect(error.message).toContain(text);
  });

  it("secrets_env names follow the same list", () => {
    const error = problem(() => fromWire({ ...base, secrets_env: { NODE_OPTIONS: SECRET_ARN } }));
    expect(error.field).toBe("secrets_env.NODE_OPTIONS");
    expect(error.message).toContain("reserved");
  });

  it.each([
    ["a\u0000b", "U+0000 at position 1"],
    ["\u001b[31mred", "U+001B"],
    ["bell\u0007", "U+0007"],
    ["c1\u0085", "U+0085"],
    ["del\u007f", "U+007F"],
  ])("an extra_env_vars value with %j is refused, naming the variable", (value, found) => {
    const error = problem(() => fromWire({ ...base, extra_env_vars: { OUTPUT: value } }));
    expect(error.field).toBe("extra_env_vars.OUTPUT");
    expect(error.message).toContain(found);
  });

  it("extra_env_vars values keep tabs and line breaks (a PEM), and TZ and LANG are allowed", () => {
    const pem = "-----BEGIN CERTIFICATE-----\r\nMIIB\tx\n-----END CERTIFICATE-----\n";
    expect(
      fromWire({ ...base, extra_env_vars: { CA_PEM: pem, TZ: "Europe/Paris", LANG: "C.UTF-8" } })
        .extraEnvVars,
    ).toEqual({ CA_PEM: pem, TZ: "Europe/Paris", LANG: "C.UTF-8" });
  });

  it("bounds each value and the total", () => {
    const one = problem(() =>
      fromWire({ ...base, extra_env_vars: { BIG: "x".repeat(32 * 1024 + 1) } }),
    );
    expect(one.field).toBe("extra_env_vars.BIG");
    expect(one.message).toContain("at most 32768 bytes");
    const many = Object.fromEntries(
      Array.from({ length: 5 }, (_, i) => [`V${i}`, "x".repeat(30 * 1024)]),
    );
    const total = problem(() => fromWire({ ...base, extra_env_vars: many }));
    expect(total.field).toBe("extra_env_vars");
    expect(total.message).toContain("total at most 131072 bytes");
  });

  it.each([
    ["correlation_id", "req\u00001"],
    ["correlation_id", "line\nbreak"],
    ["trigger_source", "api\u001b[2J"],
    ["triggered_by", "user\r"],
    ["flow_version", "1.0.0\u0000"],
    ["deployment_name", "prod\u0000"],
    ["environment", "dev\u0000"],
    ["idempotency_key", "key\u0000"],
    ["trigger_source", "api\u0000"],
  ])("%s with a control character is a 400 naming the field", (field, value) => {
    const error = problem(() => fromWire({ ...base, [field]: value }));
    expect(error.field).toBe(field);
    expect(error.message).toContain(`${field}:`);
  });

  it("cpu with a control character is a 400 naming cpu", () => {
    const error = problem(() => fromWire({ ...base, cpu: "256\u0000", memory: "512" }));
    expect(error.field).toBe("cpu");
  });

  it("parameters and metadata: strings may hold line breaks, not other controls; keys none", () => {
    expect(
      fromWire({ ...base, parameters: { csv: "a,b\r\nc,d\n", tsv: "a\tb" } }).parameters,
    ).toEqual({ csv: "a,b\r\nc,d\n", tsv: "a\tb" });
    const deep = problem(() =>
      fromWire({ ...base, parameters: { files: ["ok", { name: "x\u0000.csv" }] } }),
    );
    expect(deep.field).toBe("parameters.files.1.name");
    expect(deep.message).toContain("U+0000");
    const key = problem(() => fromWire({ ...base, metadata: { "a\u0000": 1 } }));
    expect(key.field).toBe("metadata");
    expect(key.message).toContain("a key must not contain control characters");
  });
});
