/**
 * Secrets a launch may name: only what the stack's execution role may read, and in JWT mode
 * only the caller's own org's. Refused at the edge with a 400 naming the variable and the ARN,
 * before anything is written or any task definition is registered.
 */
import {
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from "@aws-sdk/client-ecs";
import { createApi, type Api } from "../../lib/api";
import { createAuthResolver } from "../../lib/api/auth";
import { createServices, type Services } from "../../lib/services";
import { httpEvent } from "./fixtures";
import {
  acceptRunTask,
  apiConfig,
  bodyOf,
  REGION,
  registerFlow,
  silentLogger,
  startHarness,
  type Harness,
} from "./harness";

const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}`;

let h: Harness;
let services: Services;
let ecsClient: ECSClient;

beforeAll(async () => {
  h = await startHarness();
  for (const org of ["acme-corp", "globex"]) {
    await registerFlow(h.persistence, org, "etl_pipeline", "1.0.0", h.env.buckets.artifacts);
  }
  ecsClient = new ECSClient({ region: REGION });
  // As the stack configures the api: the execution role's patterns and the app's name prefix.
  services = createServices(
    apiConfig(h.env, {
      DAGY_SECRET_ARN_PATTERNS: arn("dagy/*"),
      DAGY_SECRET_NAME_PREFIX: "dagy/",
    }),
    { doc: h.env.clients.doc, s3: h.env.clients.s3, ecs: ecsClient },
    { logger: silentLogger },
  );
});
afterAll(async () => {
  await services.launcher.close();
  ecsClient.destroy();
  await h.close();
});
beforeEach(() => {
  h.ecs.reset();
  acceptRunTask(h.ecs);
});

function api(mode: "iam" | "jwt"): Api {
  return createApi({ services, auth: createAuthResolver(mode), logger: silentLogger });
}

async function launch(mode: "iam" | "jwt", secrets: Record<string, string>) {
  return api(mode).handle(
    httpEvent("POST", "/flows/etl_pipeline/runs", {
      body: { org_id: "acme-corp", secrets_env: secrets },
      ...(mode === "jwt" ? { claims: { org_id: "acme-corp" } } : {}),
    }),
  );
}

describe("secrets_env", () => {
  it.each([
    ["another app's secret", "iam", arn("other-app/db-password")],
    ["a secret outside the allowed patterns, by prefix trick", "iam", arn("dagyx/db")],
    ["another org's secret through a JWT", "jwt", arn("dagy/globex/db-password")],
    ["an unscoped app secret through a JWT", "jwt", arn("dagy/db-password")],
  ] as const)(
    "refuses %s with 400 naming the variable and ARN, launching nothing",
    async (_n, mode, secret) => {
      const before = await h.persistence.runs.list({ orgId: "acme-corp", limit: 100 });
      const response = await launch(mode, { DB_PASSWORD: secret });
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response).error).toMatch(
        new RegExp(`^secrets_env\\.DB_PASSWORD: ${secret.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`),
      );
      expect(h.ecs.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
      expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
      const after = await h.persistence.runs.list({ orgId: "acme-corp", limit: 100 });
      expect(after.items).toHaveLength(before.items.length);
    },
  );

  it("accepts the caller's own org's secret through a JWT", async () => {
    // The stack's worker task definition; the secret set gets a derived revision of it.
    h.ecs.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
      if (input.taskDefinition !== "dagy-worker") {
        throw Object.assign(new Error("Unable to describe task definition."), {
          name: "ClientException",
        });
      }
      return {
        taskDefinition: {
          taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker:7",
          family: "dagy-worker",
          revision: 7,
          status: "ACTIVE",
          networkMode: "awsvpc",
          requiresCompatibilities: ["FARGATE"],
          cpu: "1024",
          memory: "2048",
          containerDefinitions: [{ name: "worker", image: "dagy-worker:latest", essential: true }],
        },
      };
    });
    h.ecs.on(RegisterTaskDefinitionCommand).callsFake((input: { family: string }) => ({
      taskDefinition: {
        ...input,
        status: "ACTIVE",
        taskDefinitionArn: `arn:aws:ecs:us-east-1:123456789012:task-definition/${input.family}:1`,
      },
    }));
    const response = await launch("jwt", { DB_PASSWORD: arn("dagy/acme-corp/db-password") });
    expect(bodyOf(response)).toEqual(expect.objectContaining({ success: true }));
    const registered = h.ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    expect(registered.containerDefinitions?.[0]?.secrets).toEqual([
      { name: "DB_PASSWORD", valueFrom: arn("dagy/acme-corp/db-password") },
    ]);
  });
});
