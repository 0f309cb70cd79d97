/**
 * Isolated maps in AWS (IAM mode): a parent run's worker asks the API for child runs, signed
 * with SigV4 as the worker task role. Through the real api handler over local DynamoDB and S3
 * (harness), with API Gateway's IAM authorizer context for an assumed-role session (fixtures),
 * and once end to end: HttpChildRunApi signing with the worker's signer, a local server that
 * verifies the signature as API Gateway does, and the same handler behind it.
 */
import { createAuthResolver } from "../../lib/api/auth";
import type { HttpApiEvent } from "../../lib/api/http";
import { HttpChildRunApi } from "../../lib/worker/isolated-map";
import { taskRoleSigner } from "../../lib/worker/api-signing";
import { httpEvent, type EventOptions } from "./fixtures";
import { acceptRunTask, bodyOf, REGION, registerFlow, startHarness, type Harness } from "./harness";
import { startSigningApiServer, type SigningApiServer } from "../support/signing-api-server";

/** The harness's DAGY_ECS_TASK_ROLE_ARN, and a session of it as ECS would open for a task. */
const WORKER_ROLE_ARN = "arn:aws:iam::123456789012:role/ecs-task-role";
const WORKER_SESSION = "arn:aws:sts::123456789012:assumed-role/ecs-task-role/0f2b6c1d9e8a4b7c";
const ORG = "fan-org";
const OTHER_ORG = "other-org";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  acceptRunTask(h.ecs);
  await registerFlow(h.persistence, ORG, "fan", "1.0.0");
  await registerFlow(h.persistence, ORG, "other_flow", "1.0.0");
  await registerFlow(h.persistence, OTHER_ORG, "fan", "1.0.0");
});
afterAll(() => h.close());

const api = () => h.api({ auth: createAuthResolver("iam", { workerRoleArn: WORKER_ROLE_ARN }) });

/** An event as API Gateway passes it when the worker task role signed the request. */
function workerEvent(method: string, path: string, options: EventOptions = {}): HttpApiEvent {
  const event = httpEvent(method, path, options);
  return {
    ...event,
    requestContext: {
      ...event.requestContext,
      authorizer: {
        iam: {
          accessKey: "ASIAWORKERTASKROLE01",
          accountId: "123456789012",
          callerId: "AROAWORKERTASKROLE01:0f2b6c1d9e8a4b7c",
          principalOrgId: null,
          userArn: WORKER_SESSION,
          userId: "AROAWORKERTASKROLE01:0f2b6c1d9e8a4b7c",
        },
      },
    },
  };
}

/** A run an administrator launched, moved to `status` as its worker would. */
async function parentRun(
  orgId = ORG,
  status: "QUEUED" | "RUNNING" | "SUCCEEDED" = "RUNNING",
): Promise<string> {
  const runId = bodyOf(
    await api().handle(httpEvent("POST", "/flows/fan/runs", { body: { org_id: orgId } })),
  ).run_id as string;
  if (status !== "QUEUED") await h.persistence.runs.transition(runId, "QUEUED", "RUNNING");
  if (status === "SUCCEEDED") await h.persistence.runs.transition(runId, "RUNNING", "SUCCEEDED");
  return runId;
}

/** The body HttpChildRunApi sends for children `indexes` of `parentId`. */
function childBatch(parentId: string, indexes: number[], overrides: Record<string, unknown> = {}) {
  return {
    org_id: ORG,
    requests: indexes.map((i) => ({
      flow_name: "fan",
      flow_version: "1.0.0",
      parent_run_id: parentId,
      map_task: "square",
      map_items: `${i}-${i}`,
      correlation_id: `${parentId}:${i}`,
      idempotency_key: `map:${parentId}:square:${i}`,
      ...overrides,
    })),
  };
}

describe("the worker task role's calls (IAM mode)", () => {
  it("launches children of a RUNNING parent of its org, recorded as launched by the worker's session", async () => {
    const parentId = await parentRun();
    const response = await api().handle(
      workerEvent("POST", "/runs/batch", { body: childBatch(parentId, [0, 1]) }),
    );
    expect(response.statusCode).toBe(200);
    const results = bodyOf(response).results as Array<Record<string, unknown>>;
    expect(results.map((r) => r.success)).toEqual([true, true]);
    const child = await h.persistence.runs.get(results[0]!.run_id as string);
    expect(child).toMatchObject({
      org_id: ORG,
      parent_run_id: parentId,
      map_task: "square",
      trigger_source: "map",
      triggered_by: WORKER_SESSION,
    });
  });

  it.each([
    [
      "a parent of another org (the worker names its own org)",
      async () => childBatch(await parentRun(OTHER_ORG), [0]),
      /parent_run_id: run .* is not a run of org fan-org/,
    ],
    [
      "a parent of another org (the worker names that org)",
      async () => ({ ...childBatch(await parentRun(), [0]), org_id: OTHER_ORG }),
      /parent_run_id: run .* is not a run of org other-org/,
    ],
    [
      "a launch without a parent",
      async () =>
        childBatch(await parentRun(), [0], {
          parent_run_id: undefined,
          map_task: undefined,
          map_items: undefined,
        }),
      /requests\[0\]\.parent_run_id: the worker task role launches only an isolated map's child runs/,
    ],
    [
      "a parent still QUEUED",
      async () => childBatch(await parentRun(ORG, "QUEUED"), [0]),
      /is QUEUED; a worker launches and cancels children only for a RUNNING run/,
    ],
    [
      "a parent that finished",
      async () => childBatch(await parentRun(ORG, "SUCCEEDED"), [0]),
      /is SUCCEEDED/,
    ],
    [
      "a child of another flow",
      async () => childBatch(await parentRun(), [0], { flow_name: "other_flow" }),
      /flow_name: a child run runs its parent's flow \(fan 1\.0\.0\)/,
    ],
    [
      "a child with secrets of its own",
      async () =>
        childBatch(await parentRun(), [0], {
          secrets_env: { TOKEN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf" },
        }),
      /secrets_env: not for the worker task role to choose/,
    ],
  ])("refuses %s with 403, launching nothing", async (_name, body, message) => {
    const before = (await h.persistence.runs.list({ orgId: ORG, limit: 100 })).items.length;
    const response = await api().handle(workerEvent("POST", "/runs/batch", { body: await body() }));
    expect(response.statusCode).toBe(403);
    expect(bodyOf(response).error).toMatch(message);
    const after = (await h.persistence.runs.list({ orgId: ORG, limit: 100 })).items.length;
    // Only the parent the case created, no child.
    expect(after - before).toBeLessThanOrEqual(1);
  });

  it("refuses a single launch without a parent, and every other route, with 403", async () => {
    const launch = await api().handle(
      workerEvent("POST", "/flows/fan/runs", { body: { org_id: ORG } }),
    );
    expect(launch.statusCode).toBe(403);
    const list = await api().handle(workerEvent("GET", "/runs", { query: { org_id: ORG } }));
    expect(list.statusCode).toBe(403);
    expect(bodyOf(list).error).toMatch(/worker task role may only launch and cancel/);
  });

  it("cancels its children, but not a run that is no child, nor another org's child", async () => {
    const parentId = await parentRun();
    const results = bodyOf(
      await api().handle(workerEvent("POST", "/runs/batch", { body: childBatch(parentId, [0]) })),
    ).results as Array<Record<string, unknown>>;
    const childId = results[0]!.run_id as string;

    const cancel = (runId: string, orgId = ORG) =>
      api().handle(
        workerEvent("POST", `/runs/${runId}/cancel`, {
          body: { org_id: orgId, reason: "map failed" },
        }),
      );
    const notChild = await cancel(parentId);
    expect(notChild.statusCode).toBe(403);
    expect(bodyOf(notChild).error).toMatch(/is not a child run/);
    expect((await h.persistence.runs.get(parentId))?.status).toBe("RUNNING");

    const wrongOrg = await cancel(childId, OTHER_ORG);
    expect(wrongOrg.statusCode).toBe(404);

    const ok = await cancel(childId);
    expect(ok.statusCode).toBe(200);
    expect((await h.persistence.runs.get(childId))?.status).toBe("CANCELLED");
  });

  it("a session of another role keeps the administrator's IAM access", async () => {
    const response = await api().handle(httpEvent("GET", "/runs", { query: { org_id: ORG } }));
    expect(response.statusCode).toBe(200);
  });
});

describe("HttpChildRunApi signing as the task role, against a server that verifies SigV4", () => {
  const KEY = {
    accessKeyId: "ASIAWORKERTASKROLE01",
    secretAccessKey: "task/role+secret=for-tests",
    sessionToken: "container-credentials-session-token",
    userArn: WORKER_SESSION,
  };
  let server: SigningApiServer;

  beforeAll(async () => {
    server = await startSigningApiServer({
      auth: { mode: "iam", region: REGION, keys: [KEY] },
      handler: (event) => api().handle(event),
    });
  });
  afterAll(() => server.close());

  const childApi = (parentRunId: string, secretAccessKey = KEY.secretAccessKey) =>
    new HttpChildRunApi({
      apiUrl: server.url,
      orgId: ORG,
      flowName: "fan",
      flowVersion: "1.0.0",
      environment: "production",
      parentRunId,
      correlationId: parentRunId,
      parameters: {},
      sign: taskRoleSigner({ apiUrl: server.url, region: REGION }, () =>
        Promise.resolve({ ...KEY, secretAccessKey }),
      ),
    });

  it("launches children through a signed POST /runs/batch and cancels one through POST /runs/{id}/cancel", async () => {
    const parentId = await parentRun();
    const outcomes = await childApi(parentId).launch("square", [
      { index: 0, first: 0, last: 1 },
      { index: 1, first: 2, last: 3 },
    ]);
    expect(outcomes.every((o) => o.runId !== undefined)).toBe(true);
    const children = await h.persistence.runs.list({
      orgId: ORG,
      parentRunId: parentId,
      limit: 10,
    });
    expect(children.items.map((c) => [c.map_items, c.correlation_id, c.triggered_by])).toEqual([
      ["0-1", `${parentId}:0`, WORKER_SESSION],
      ["2-3", `${parentId}:1`, WORKER_SESSION],
    ]);

    await childApi(parentId).cancel(outcomes[1]!.runId!, "map failed");
    expect((await h.persistence.runs.get(outcomes[1]!.runId!))?.status).toBe("CANCELLED");
    expect(server.requests.map((r) => [r.method, r.status])).toEqual([
      ["POST", 200],
      ["POST", 200],
    ]);
  });

  it("a request signed with the wrong key is refused by the gateway and its children fail without retry", async () => {
    const parentId = await parentRun();
    const [outcome] = await childApi(parentId, "not-the-key").launch("square", [
      { index: 0, first: 0, last: 0 },
    ]);
    expect(outcome).toMatchObject({ retryable: false });
    expect(outcome?.error).toMatch(
      /POST \/runs\/batch answered 403: .*signature we calculated does not match/,
    );
  });

  it("a child launch the API refuses (parent finished) fails with the API's reason, not retried", async () => {
    const parentId = await parentRun(ORG, "SUCCEEDED");
    const [outcome] = await childApi(parentId).launch("square", [{ index: 0, first: 0, last: 0 }]);
    expect(outcome).toMatchObject({ retryable: false });
    expect(outcome?.error).toMatch(/answered 403: .*is SUCCEEDED/);
  });
});
