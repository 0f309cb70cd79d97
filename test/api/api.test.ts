import { RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { createAuthResolver } from "../../lib/api/auth";
import { RunsService } from "../../lib/services/runs";
import { API_ROUTES } from "../../lib/api/routes";
import { HTTP_API_V2_EVENT, httpEvent } from "./fixtures";
import {
  acceptRunTask,
  bodyOf,
  CLUSTER_ARN,
  registerFlow,
  startHarness,
  taskArnFor,
  type Harness,
} from "./harness";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await registerFlow(h.persistence, "acme-corp", "etl_pipeline", "1.0.0", h.env.buckets.artifacts);
  await registerFlow(h.persistence, "acme-corp", "etl_pipeline", "1.1.0", h.env.buckets.artifacts);
  await registerFlow(h.persistence, "acme-corp", "process_shard", "2.0.0", h.env.buckets.artifacts);
  await registerFlow(h.persistence, "globex", "etl_pipeline", "1.0.0", h.env.buckets.artifacts);
});

afterAll(async () => {
  await h.close();
});

beforeEach(() => {
  h.ecs.reset();
  h.events.reset();
  h.scheduler.reset();
  acceptRunTask(h.ecs);
});

function envOf(input: unknown): Record<string, string> {
  const overrides = (
    input as {
      overrides: {
        containerOverrides: Array<{ environment: Array<{ name: string; value: string }> }>;
      };
    }
  ).overrides;
  return Object.fromEntries(
    (overrides.containerOverrides[0]?.environment ?? []).map((e) => [e.name, e.value]),
  );
}

describe("POST /flows/{flowName}/runs", () => {
  it("launches the guide's example and answers exactly {run_id, task_arn, success}", async () => {
    const response = await h.api().handle(HTTP_API_V2_EVENT);
    expect(response.statusCode).toBe(200);
    const body = bodyOf(response);
    expect(Object.keys(body)).toEqual(["run_id", "task_arn", "success"]);
    const runId = body.run_id as string;
    expect(body).toEqual({ run_id: runId, task_arn: taskArnFor(runId), success: true });

    const calls = h.ecs.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toMatchObject({
      cluster: CLUSTER_ARN,
      taskDefinition: "dagy-worker",
      count: 1,
      launchType: "FARGATE",
      clientToken: runId,
      startedBy: "dagy",
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ["subnet-12345", "subnet-67890"],
          securityGroups: ["sg-12345"],
          assignPublicIp: "DISABLED",
        },
      },
    });
    const env = envOf(input);
    expect(env).toMatchObject({
      DAGY_RUN_ID: runId,
      DAGY_ORG_ID: "acme-corp",
      DAGY_FLOW_NAME: "etl_pipeline",
      DAGY_FLOW_VERSION: "1.1.0",
      DAGY_ENVIRONMENT: "production",
    });
    expect(JSON.parse(env.DAGY_PARAMETERS ?? "null")).toEqual({
      date: "2024-03-14",
      source: "s3://bucket/input.csv",
    });

    const run = await h.persistence.runs.get(runId);
    expect(run).toMatchObject({
      status: "QUEUED",
      org_id: "acme-corp",
      trigger_source: "api",
      // The IAM principal API Gateway authenticated, not just an address.
      triggered_by: "arn:aws:iam::123456789012:user/dashboard",
      environment: "production",
      task_arn: taskArnFor(runId),
    });
  });

  it("takes org_id from the query string, as the guide's handler does", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", {
        query: { org_id: "acme-corp" },
        body: { parameters: { date: "2024-03-15" }, flow_version: "1.0.0" },
      }),
    );
    expect(response.statusCode).toBe(200);
    const run = await h.persistence.runs.get(bodyOf(response).run_id as string);
    expect(run).toMatchObject({ org_id: "acme-corp", flow_version: "1.0.0" });
  });

  it("decodes a base64-encoded body", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", {
        body: { org_id: "acme-corp", workload_profile: "large" },
        base64: true,
      }),
    );
    expect(response.statusCode).toBe(200);
    const run = await h.persistence.runs.get(bodyOf(response).run_id as string);
    expect(run).toMatchObject({ workload_profile: "large", cpu: "2048", memory: "4096" });
  });

  it.each([
    ["malformed JSON", '{"org_id": "acme-corp",', /body: malformed JSON/],
    ["a JSON array", "[1,2]", /body: must be a JSON object/],
    [
      "an unknown field",
      { org_id: "acme-corp", workload_profle: "large" },
      /unknown field workload_profle/,
    ],
    [
      "a wrong type",
      { org_id: "acme-corp", ephemeral_storage_gib: "big" },
      /ephemeral_storage_gib: must be an integer/,
    ],
    [
      "a bad workload profile",
      { org_id: "acme-corp", workload_profile: "huge" },
      /workload_profile: must be one of small, medium/,
    ],
    [
      "parameters that are not an object",
      { org_id: "acme-corp", parameters: [1] },
      /parameters: must be a JSON object/,
    ],
    [
      "flow_name in the body",
      { org_id: "acme-corp", flow_name: "other" },
      /flow_name: set by the API/,
    ],
    [
      "trigger_source in the body",
      { org_id: "acme-corp", trigger_source: "cron" },
      /trigger_source: set by the API/,
    ],
    ["no org_id", { parameters: {} }, /org_id: required/],
    ["org_id of the wrong type", { org_id: 42 }, /org_id: must be a string/],
  ])(
    "answers 400 naming the problem for %s, and launches nothing",
    async (_name, body, message) => {
      const response = await h
        .api()
        .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body }));
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response).error).toMatch(message);
      expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
    },
  );

  it("answers 400 when body and query name different orgs", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", {
        body: { org_id: "acme-corp" },
        query: { org_id: "globex" },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /org_id: the body says "acme-corp" but the query says "globex"/,
    );
  });

  it("answers 404 naming the flow for an unregistered flow, and writes no run", async () => {
    const response = await h
      .api()
      .handle(httpEvent("POST", "/flows/no_such_flow/runs", { body: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response).error).toMatch(/no_such_flow/);
    const page = await h.persistence.runs.list({ orgId: "acme-corp", flowName: "no_such_flow" });
    expect(page.items).toHaveLength(0);
  });

  it("answers 502 with the run id and ECS's reason when RunTask fails, and records the run FAILED", async () => {
    h.ecs.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [{ reason: "ACCESS_DENIED", detail: "not authorized to pass role" }],
    });
    const response = await h
      .api()
      .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(502);
    const body = bodyOf(response);
    expect(body).toMatchObject({ task_arn: null, success: false });
    expect(body.error).toMatch(/ACCESS_DENIED/);
    const run = await h.persistence.runs.get(body.run_id as string);
    expect(run?.status).toBe("FAILED");
  });

  it("returns the first launch's result for a repeated Idempotency-Key, starting one task", async () => {
    const event = httpEvent("POST", "/flows/etl_pipeline/runs", {
      body: { org_id: "acme-corp", parameters: { date: "2024-03-16" } },
      headers: { "Idempotency-Key": "nightly-2024-03-16" },
    });
    const first = await h.api().handle(event);
    const second = await h.api().handle(event);
    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(bodyOf(second)).toEqual(bodyOf(first));
    expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it("answers 400 naming the header for an invalid Idempotency-Key", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", {
        body: { org_id: "acme-corp" },
        headers: { "Idempotency-Key": "has spaces" },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(/Idempotency-Key header/);
  });
});

describe("GET /runs/{runId}", () => {
  async function launch(org = "acme-corp"): Promise<string> {
    const response = await h
      .api()
      .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: org } }));
    return bodyOf(response).run_id as string;
  }

  it("answers the guide's fields first, exactly named, then the rest of the run", async () => {
    const runId = await launch();
    await h.persistence.runs.transition(runId, "QUEUED", "RUNNING");
    await h.persistence.runs.update(runId, { log_stream: `worker/worker/${runId}` });
    await h.persistence.runs.transition(runId, "RUNNING", "SUCCEEDED");

    const response = await h.api().handle(httpEvent("GET", `/runs/${runId}`));
    expect(response.statusCode).toBe(200);
    const body = bodyOf(response);
    expect(Object.keys(body).slice(0, 6)).toEqual([
      "run_id",
      "flow_name",
      "status",
      "started_at",
      "completed_at",
      "error_message",
    ]);
    expect(body).toMatchObject({
      run_id: runId,
      flow_name: "etl_pipeline",
      status: "SUCCEEDED",
      error_message: null,
      flow_version: "1.1.0",
      org_id: "acme-corp",
      task_arn: taskArnFor(runId),
      task_states: {},
      traceback_uri: null,
      logs: {
        log_group: "/ecs/dagy-worker",
        log_stream: `worker/worker/${runId}`,
        console_url:
          "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1" +
          `#logsV2:log-groups/log-group/$252Fecs$252Fdagy-worker/log-events/worker$252Fworker$252F${runId}`,
      },
      traceback: { uri: null, console_url: null },
    });
    expect(typeof body.started_at).toBe("string");
    expect(typeof body.completed_at).toBe("string");
    expect(typeof body.created_at).toBe("string");
  });

  it("links the traceback of a failed run", async () => {
    const runId = await launch();
    const uri = `s3://${h.env.buckets.traces}/exceptions/acme-corp/${runId}/traceback.txt`;
    await h.persistence.runs.transition(runId, "QUEUED", "FAILED", {
      error_message: "ValueError: bad date",
      traceback_uri: uri,
    });
    const body = bodyOf(await h.api().handle(httpEvent("GET", `/runs/${runId}`)));
    expect(body).toMatchObject({
      status: "FAILED",
      error_message: "ValueError: bad date",
      traceback_uri: uri,
      traceback: {
        uri,
        console_url: `https://us-east-1.console.aws.amazon.com/s3/object/${h.env.buckets.traces}?region=us-east-1&prefix=exceptions%2Facme-corp%2F${runId}%2Ftraceback.txt`,
      },
    });
  });

  it.each([
    ["an unknown id", "00000000-0000-4000-8000-000000000000"],
    ["an id that cannot exist", "%23weird"],
  ])('answers 404 {"error":"Run not found"} exactly for %s', async (_name, runId) => {
    const response = await h.api().handle(httpEvent("GET", `/runs/${runId}`));
    expect(response.statusCode).toBe(404);
    expect(response.body).toBe('{"error":"Run not found"}');
  });

  it("answers the same 404 for another org's run when the org is named", async () => {
    const runId = await launch("globex");
    const response = await h
      .api()
      .handle(httpEvent("GET", `/runs/${runId}`, { query: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(404);
    expect(response.body).toBe('{"error":"Run not found"}');
  });
});

describe("GET /runs/{runId}: what the run was asked to do", () => {
  it("shows parameters, resources and metadata, and secrets and extra variables by name only", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", {
        body: {
          org_id: "acme-corp",
          parameters: { date: "2024-03-14" },
          workload_profile: "large",
          extra_env_vars: { API_TOKEN: "tok-123-secret" },
          metadata: { ticket: "OPS-7" },
        },
      }),
    );
    const runId = bodyOf(response).run_id as string;
    const run = await h.api().handle(httpEvent("GET", `/runs/${runId}`));
    expect(bodyOf(run)).toMatchObject({
      parameters: { date: "2024-03-14" },
      resources: { workload_profile: "large", cpu: "2048", memory: "4096" },
      extra_env_var_names: ["API_TOKEN"],
      secret_names: [],
      metadata: { ticket: "OPS-7" },
    });
    expect(run.body).not.toContain("tok-123-secret");
  });
});

describe("GET /runs", () => {
  let org: string;
  beforeAll(async () => {
    org = "list-org";
    await registerFlow(h.persistence, org, "alpha");
    await registerFlow(h.persistence, org, "beta");
  });

  it("lists the org's runs newest first, paginates, and filters by flow and status", async () => {
    const ids: string[] = [];
    for (const flow of ["alpha", "alpha", "beta"]) {
      const response = await h
        .api()
        .handle(httpEvent("POST", `/flows/${flow}/runs`, { body: { org_id: org } }));
      ids.push(bodyOf(response).run_id as string);
      // Distinct created_at values keep the order deterministic.
      await new Promise((r) => setTimeout(r, 5));
    }
    await h.persistence.runs.transition(ids[0]!, "QUEUED", "CANCELLED");

    const page1 = bodyOf(
      await h.api().handle(httpEvent("GET", "/runs", { query: { org_id: org, limit: "2" } })),
    );
    const runs1 = page1.runs as Array<Record<string, unknown>>;
    expect(runs1.map((r) => r.run_id)).toEqual([ids[2], ids[1]]);
    expect(typeof page1.next_token).toBe("string");
    const page2 = bodyOf(
      await h.api().handle(
        httpEvent("GET", "/runs", {
          query: { org_id: org, limit: "2", next_token: page1.next_token as string },
        }),
      ),
    );
    expect((page2.runs as Array<Record<string, unknown>>).map((r) => r.run_id)).toEqual([ids[0]]);
    expect(page2.next_token).toBeNull();

    const alpha = bodyOf(
      await h
        .api()
        .handle(httpEvent("GET", "/runs", { query: { org_id: org, flow_name: "alpha" } })),
    );
    expect((alpha.runs as Array<Record<string, unknown>>).map((r) => r.run_id)).toEqual([
      ids[1],
      ids[0],
    ]);
    const cancelled = bodyOf(
      await h
        .api()
        .handle(httpEvent("GET", "/runs", { query: { org_id: org, status: "CANCELLED" } })),
    );
    expect(
      (cancelled.runs as Array<Record<string, unknown>>).map((r) => [r.run_id, r.status]),
    ).toEqual([[ids[0], "CANCELLED"]]);
  });

  it.each([
    [{ status: "DONE" }, /status: must be one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED/],
    [{ limit: "0" }, /limit: must be an integer from 1 to 100/],
    [{ limit: "ten" }, /limit: must be an integer from 1 to 100/],
    [{ sort: "asc" }, /unknown field sort/],
  ])("answers 400 naming the query parameter for %j", async (query, message) => {
    const response = await h
      .api()
      .handle(httpEvent("GET", "/runs", { query: { org_id: org, ...query } }));
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(message);
  });
});

describe("child runs (isolated map)", () => {
  it("launches children of an active parent via /runs/batch and lists them with GET /runs?parent_run_id", async () => {
    const org = "map-org";
    await registerFlow(h.persistence, org, "fan");
    const parent = bodyOf(
      await h.api().handle(httpEvent("POST", "/flows/fan/runs", { body: { org_id: org } })),
    );
    const parentId = parent.run_id as string;
    const batch = await h.api().handle(
      httpEvent("POST", "/runs/batch", {
        body: {
          org_id: org,
          correlation_id: parentId,
          requests: [0, 1, 2].map((i) => ({
            flow_name: "fan",
            parent_run_id: parentId,
            map_task: "square",
            map_items: `${i}-${i}`,
          })),
        },
      }),
    );
    expect(batch.statusCode).toBe(200);
    const results = bodyOf(batch).results as Array<Record<string, unknown>>;
    expect(results.map((r) => r.correlation_id)).toEqual([0, 1, 2].map((i) => `${parentId}:${i}`));

    const listed = bodyOf(
      await h
        .api()
        .handle(httpEvent("GET", "/runs", { query: { org_id: org, parent_run_id: parentId } })),
    );
    const runs = listed.runs as Array<Record<string, unknown>>;
    expect(runs.map((r) => r.run_id)).toEqual(results.map((r) => r.run_id));
    expect(runs.every((r) => r.parent_run_id === parentId && r.trigger_source === "map")).toBe(
      true,
    );
    const child = bodyOf(
      await h
        .api()
        .handle(
          httpEvent("GET", `/runs/${results[1]!.run_id as string}`, { query: { org_id: org } }),
        ),
    );
    expect(child).toMatchObject({
      parent_run_id: parentId,
      map_task: "square",
      map_items: "1-1",
      correlation_id: `${parentId}:1`,
    });
  });

  it("answers 400 for a parent of another org, a finished parent, or map fields without a parent", async () => {
    const org = "map-org-2";
    await registerFlow(h.persistence, org, "fan");
    const parentId = bodyOf(
      await h.api().handle(httpEvent("POST", "/flows/fan/runs", { body: { org_id: org } })),
    ).run_id as string;
    const launch = (body: Record<string, unknown>) =>
      h.api().handle(httpEvent("POST", "/flows/fan/runs", { body: { org_id: org, ...body } }));
    const other = await h.api().handle(
      httpEvent("POST", "/flows/fan/runs", {
        body: { org_id: "map-org", parent_run_id: parentId },
      }),
    );
    expect(other.statusCode).toBe(400);
    expect(bodyOf(other).error).toMatch(/parent_run_id: run .* not found/);
    const alone = await launch({ map_task: "square", map_items: "0-1" });
    expect(alone.statusCode).toBe(400);
    expect(bodyOf(alone).error).toMatch(/map_task and map_items go together, with parent_run_id/);
    await h.persistence.runs.transition(parentId, "QUEUED", "CANCELLED");
    const finished = await launch({ parent_run_id: parentId });
    expect(finished.statusCode).toBe(400);
    expect(bodyOf(finished).error).toMatch(/is CANCELLED/);
  });
});

describe("POST /runs/{runId}/rerun", () => {
  async function failedRun(): Promise<string> {
    const runId = bodyOf(
      await h.api().handle(
        httpEvent("POST", "/flows/etl_pipeline/runs", {
          body: { org_id: "acme-corp", parameters: { date: "2024-03-14" } },
        }),
      ),
    ).run_id as string;
    await h.persistence.runs.transition(runId, "QUEUED", "RUNNING");
    await h.persistence.runs.mergeTaskStates(runId, {
      extract: { status: "SUCCEEDED", attempts: 1 },
      transform: { status: "FAILED", attempts: 3, error: "bad row" },
    });
    await h.persistence.runs.recordTaskOutputs(runId, {
      extract: { json: '{"rows":3}', bytes: 10 },
    });
    await h.persistence.runs.transition(runId, "RUNNING", "FAILED", { error_message: "x" });
    return runId;
  }

  it("re-runs a failed run from its failure: same version and parameters, linked both ways", async () => {
    const sourceId = await failedRun();
    const response = await h.api().handle(
      httpEvent("POST", `/runs/${sourceId}/rerun`, {
        body: { org_id: "acme-corp", from: "failure" },
      }),
    );
    expect(response.statusCode).toBe(200);
    const body = bodyOf(response);
    expect(body).toMatchObject({ success: true, rerun_of: sourceId });
    const rerun = await h.persistence.runs.get(body.run_id as string);
    const source = await h.persistence.runs.get(sourceId);
    expect(rerun).toMatchObject({
      rerun_of: sourceId,
      rerun_from: "failure",
      flow_version: source?.flow_version,
      parameters: source?.parameters,
      trigger_source: "api",
      // Only the succeeded task is taken over; the failed one runs again.
      task_states: { extract: { status: "SUCCEEDED", attempts: 1 } },
      task_outputs: { extract: { json: '{"rows":3}', bytes: 10 } },
    });
    expect(source?.reruns).toEqual([body.run_id]);

    const shown = bodyOf(await h.api().handle(httpEvent("GET", `/runs/${body.run_id as string}`)));
    expect(shown).toMatchObject({
      rerun_of: sourceId,
      rerun_from: "failure",
      task_outputs: { extract: { bytes: 10, stored: "inline", preview: '{"rows":3}' } },
      attempts: [expect.objectContaining({ attempt: 1, capacity_provider: "FARGATE" })],
    });
  });

  it("refuses to re-run an active run (409) and a bad `from` (400)", async () => {
    const runId = bodyOf(
      await h.api().handle(
        httpEvent("POST", "/flows/etl_pipeline/runs", {
          body: { org_id: "acme-corp", parameters: { date: "2024-03-14" } },
        }),
      ),
    ).run_id as string;
    const active = await h.api().handle(httpEvent("POST", `/runs/${runId}/rerun`));
    expect(active.statusCode).toBe(409);
    const bad = await h
      .api()
      .handle(httpEvent("POST", `/runs/${runId}/rerun`, { body: { from: "middle" } }));
    expect(bad.statusCode).toBe(400);
    expect(bodyOf(bad).error).toMatch(/from/);
  });
});

describe("POST /runs/{runId}/cancel", () => {
  it("cancels a queued run and stops its task with the exact StopTask request", async () => {
    const launched = bodyOf(
      await h
        .api()
        .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "acme-corp" } })),
    );
    const runId = launched.run_id as string;
    const response = await h.api().handle(
      httpEvent("POST", `/runs/${runId}/cancel`, {
        body: { org_id: "acme-corp", reason: "wrong date" },
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      run_id: runId,
      status: "CANCELLED",
      cancel_requested: true,
    });
    const stops = h.ecs.commandCalls(StopTaskCommand);
    expect(stops.map((c) => c.args[0].input)).toEqual([
      { cluster: CLUSTER_ARN, task: taskArnFor(runId), reason: "wrong date" },
    ]);
  });

  it("flags a running run for cancellation and stops its task", async () => {
    const runId = bodyOf(
      await h
        .api()
        .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "acme-corp" } })),
    ).run_id as string;
    await h.persistence.runs.transition(runId, "QUEUED", "RUNNING");
    const response = await h.api().handle(httpEvent("POST", `/runs/${runId}/cancel`));
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({ run_id: runId, status: "RUNNING", cancel_requested: true });
    expect(h.ecs.commandCalls(StopTaskCommand)).toHaveLength(1);
  });

  it("answers 409 for a run that already finished", async () => {
    const runId = bodyOf(
      await h
        .api()
        .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "acme-corp" } })),
    ).run_id as string;
    await h.persistence.runs.transition(runId, "QUEUED", "FAILED");
    const response = await h.api().handle(httpEvent("POST", `/runs/${runId}/cancel`));
    expect(response.statusCode).toBe(409);
    expect(bodyOf(response).error).toMatch(/already FAILED/);
  });

  it('answers 404 {"error":"Run not found"} for an unknown run', async () => {
    const response = await h.api().handle(httpEvent("POST", "/runs/does-not-exist/cancel"));
    expect(response.statusCode).toBe(404);
    expect(response.body).toBe('{"error":"Run not found"}');
  });
});

describe("POST /runs/batch", () => {
  it("launches every request and answers in request order with child correlation ids", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/runs/batch", {
        body: {
          org_id: "acme-corp",
          correlation_id: "batch-req-12345",
          requests: [0, 1, 2, 3].map((shard) => ({
            flow_name: "process_shard",
            parameters: { shard: String(shard) },
          })),
        },
      }),
    );
    expect(response.statusCode).toBe(200);
    const results = bodyOf(response).results as Array<Record<string, unknown>>;
    expect(results.map((r) => r.correlation_id)).toEqual([
      "batch-req-12345:0",
      "batch-req-12345:1",
      "batch-req-12345:2",
      "batch-req-12345:3",
    ]);
    for (const [index, result] of results.entries()) {
      expect(result).toEqual({
        run_id: expect.any(String) as string,
        flow_name: "process_shard",
        task_arn: taskArnFor(result.run_id as string),
        success: true,
        correlation_id: `batch-req-12345:${index}`,
      });
      const run = await h.persistence.runs.get(result.run_id as string);
      expect(run?.parameters).toEqual({ shard: String(index) });
    }
  });

  it("reports an unknown flow at its index and launches the others", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/runs/batch", {
        body: {
          org_id: "acme-corp",
          requests: [{ flow_name: "process_shard" }, { flow_name: "missing_flow" }],
        },
      }),
    );
    const results = bodyOf(response).results as Array<Record<string, unknown>>;
    expect(results[0]).toMatchObject({ success: true, flow_name: "process_shard" });
    expect(results[1]).toMatchObject({ success: false, run_id: null, flow_name: "missing_flow" });
    expect(results[1]?.error).toMatch(/missing_flow/);
  });

  it("answers 400 beyond 100 requests, launching nothing", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/runs/batch", {
        body: {
          org_id: "acme-corp",
          requests: Array.from({ length: 101 }, () => ({ flow_name: "process_shard" })),
        },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /requests: must hold at most 100 launch requests per call/,
    );
    expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("answers 400 naming the entry and field of an invalid request, launching nothing", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/runs/batch", {
        body: {
          org_id: "acme-corp",
          requests: [
            { flow_name: "process_shard" },
            { flow_name: "process_shard", ephemeral_storage_gib: 5 },
          ],
        },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /^requests\[1\]: ephemeral_storage_gib: must be from 21 to 200/,
    );
    expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});

describe("GET /flows and /flows/{flowName}/versions", () => {
  it("lists the org's flows with their latest version", async () => {
    const body = bodyOf(
      await h.api().handle(httpEvent("GET", "/flows", { query: { org_id: "acme-corp" } })),
    );
    expect(body).toEqual({
      flows: [
        { flow_name: "etl_pipeline", latest_version: "1.1.0", versions: 2 },
        { flow_name: "process_shard", latest_version: "2.0.0", versions: 1 },
      ],
    });
  });

  it("lists a flow's versions, and answers 404 for a flow the org does not have", async () => {
    const body = bodyOf(
      await h
        .api()
        .handle(
          httpEvent("GET", "/flows/etl_pipeline/versions", { query: { org_id: "acme-corp" } }),
        ),
    );
    expect((body.versions as Array<Record<string, unknown>>).map((v) => v.flow_version)).toEqual([
      "1.1.0",
      "1.0.0",
    ]);
    const missing = await h
      .api()
      .handle(httpEvent("GET", "/flows/process_shard/versions", { query: { org_id: "globex" } }));
    expect(missing.statusCode).toBe(404);
    expect(bodyOf(missing).error).toMatch(/process_shard/);
  });
});

describe("JWT mode", () => {
  const jwtApi = () => h.api({ auth: createAuthResolver("jwt") });
  const claims = { org_id: "acme-corp" };

  it("launches for the token's org without an org_id in the request", async () => {
    const response = await jwtApi().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", { body: {}, claims }),
    );
    expect(response.statusCode).toBe(200);
    const run = await h.persistence.runs.get(bodyOf(response).run_id as string);
    expect(run?.org_id).toBe("acme-corp");
  });

  it("answers 403 when the request names another org", async () => {
    const response = await jwtApi().handle(
      httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "globex" }, claims }),
    );
    expect(response.statusCode).toBe(403);
    expect(bodyOf(response).error).toMatch(
      /org_id: "globex" is not the organization of the access token/,
    );
    expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("answers 401 for a token without the org claim", async () => {
    const response = await jwtApi().handle(
      httpEvent("GET", "/runs", { claims: { scope: "runs" } }),
    );
    expect(response.statusCode).toBe(401);
    expect(bodyOf(response).error).toMatch(/no "org_id" claim/);
  });

  it("hides another org's run behind the guide's 404, for reading and cancelling", async () => {
    const other = bodyOf(
      await h
        .api()
        .handle(httpEvent("POST", "/flows/etl_pipeline/runs", { body: { org_id: "globex" } })),
    ).run_id as string;
    for (const event of [
      httpEvent("GET", `/runs/${other}`, { claims }),
      httpEvent("POST", `/runs/${other}/cancel`, { claims }),
    ]) {
      const response = await jwtApi().handle(event);
      expect(response.statusCode).toBe(404);
      expect(response.body).toBe('{"error":"Run not found"}');
    }
    expect((await h.persistence.runs.get(other))?.cancel_requested).toBeUndefined();
  });

  it("lists only the token's org's runs", async () => {
    const body = bodyOf(
      await jwtApi().handle(httpEvent("GET", "/runs", { claims: { org_id: "globex" } })),
    );
    const runs = body.runs as Array<Record<string, unknown>>;
    expect(runs.length).toBeGreaterThan(0);
    expect(new Set(runs.map((r) => r.org_id))).toEqual(new Set(["globex"]));
  });

  it("reads the org from a configured claim name", async () => {
    const api = h.api({ auth: createAuthResolver("jwt", { orgClaim: "custom:tenant" }) });
    const response = await api.handle(
      httpEvent("GET", "/flows", { claims: { "custom:tenant": "globex" } }),
    );
    expect(bodyOf(response)).toEqual({
      flows: [{ flow_name: "etl_pipeline", latest_version: "1.0.0", versions: 1 }],
    });
  });
});

describe("routing and errors", () => {
  it("serves every route the stack creates (one list, API_ROUTES)", async () => {
    for (const route of API_ROUTES) {
      const path = route.path.replace(/\{[^}]+\}/g, "x");
      const response = await h.api().handle(httpEvent(route.method, path));
      const error = (bodyOf(response).error as string | undefined) ?? "";
      expect([route.method, path, error]).not.toEqual([
        route.method,
        path,
        expect.stringMatching(/^No route|is not allowed/),
      ]);
    }
  });

  it("answers 404 for an unknown path and 405 with Allow for a wrong method", async () => {
    const unknown = await h.api().handle(httpEvent("GET", "/nothing/here"));
    expect(unknown.statusCode).toBe(404);
    expect(bodyOf(unknown).error).toBe("No route for GET /nothing/here");
    const wrongMethod = await h.api().handle(httpEvent("PUT", "/runs"));
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe("GET");
  });

  it("strips a named stage from the path", async () => {
    const event = httpEvent("GET", "/prod/flows", { query: { org_id: "acme-corp" } });
    const staged = { ...event, requestContext: { ...event.requestContext, stage: "prod" } };
    expect((await h.api().handle(staged)).statusCode).toBe(200);
  });

  it("answers 500 with a request id and no details for an unexpected error", async () => {
    const errors: Array<Record<string, unknown> | undefined> = [];
    const logger = {
      info: () => undefined,
      warn: () => undefined,
      error: (_m: string, fields?: Record<string, unknown>) => void errors.push(fields),
      event: () => undefined,
      child() {
        return logger;
      },
      redact: () => undefined,
    };
    const broken = {
      ...h.launcher,
      launch: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.1:443 secret-detail")),
      launchBatch: h.launcher.launchBatch.bind(h.launcher),
      getRunStatus: h.launcher.getRunStatus.bind(h.launcher),
      cancelRun: h.launcher.cancelRun.bind(h.launcher),
      rerun: h.launcher.rerun.bind(h.launcher),
    };
    const runs = new RunsService({ launcher: broken, runs: h.persistence.runs });
    const response = await h.api({ services: { runs }, logger }).handle(HTTP_API_V2_EVENT);
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({
      error: "Internal error",
      code: "internal",
      request_id: "UaZ6bhJ9oAMEJHw=",
    });
    expect(response.body).not.toMatch(/secret-detail|ECONNREFUSED|at /);
    expect(errors[0]).toMatchObject({ request_id: "UaZ6bhJ9oAMEJHw=" });
  });
});
