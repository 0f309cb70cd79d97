/**
 * Contract tests over the deployed form (issue 10): the stack is synthesized with bundling, and
 * each Lambda's uploaded `index.js` is invoked with AWS-documented events (test/contract/
 * fixtures) against dynalite and s3rver, with ECS, EventBridge, Scheduler, CloudWatch Logs and
 * SQS answered by a recording endpoint. The same fixtures drive the source handlers; both forms
 * must answer, write and call AWS identically. The stack has a warm pool of the `small` profile
 * whose table counts no idle worker here: launches below find it exhausted and start cold
 * (warm dispatch and the warm-fallback function: warm.test.ts).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { zipSync } from "fflate";
import { Persistence } from "../../lib/persistence/persistence";
import { API_ROUTES, routeKey } from "../../lib/api/routes";
import { FUNCTIONS, ruleTargetInput, scheduleTargetInput } from "./support/deployed-stack";
import { CLUSTER_ARN } from "./support/forms";
import { envOf, fixture, runOf, useForms, type RunTaskBody, type Step } from "./support/scenario";

interface HttpReply {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}
const bodyOf = (reply: unknown): Record<string, unknown> =>
  JSON.parse((reply as HttpReply).body) as Record<string, unknown>;

/**
 * An IAM-authorized HTTP API event for `method path` (the registration fixture): with a JSON
 * body, base64 as API Gateway sends it, or, without one, the org in the query string.
 */
function registrationEvent(method: string, rawPath: string, body?: unknown): unknown {
  const text = body === undefined ? "" : JSON.stringify(body);
  const route = API_ROUTE_KEYS.find((key) => routeMatches(key, method, rawPath)) ?? "$default";
  const event = fixture("http-iam-registration", {
    METHOD: method,
    PATH: rawPath,
    ROUTE_KEY: route,
    LENGTH: String(Buffer.byteLength(text)),
    BODY: Buffer.from(text).toString("base64"),
  }) as Record<string, unknown>;
  if (body !== undefined) return event;
  const { body: _none, isBase64Encoded: _encoded, ...withoutBody } = event;
  return {
    ...withoutBody,
    rawQueryString: "org_id=acme-corp",
    queryStringParameters: { org_id: "acme-corp" },
  };
}

const API_ROUTE_KEYS = API_ROUTES.map(routeKey);
function routeMatches(key: string, method: string, rawPath: string): boolean {
  const [keyMethod, template] = key.split(" ") as [string, string];
  const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
  return keyMethod === method && pattern.test(rawPath);
}

const { stack: deployed, onBothForms } = useForms();

describe("the deployed bundles", () => {
  test("every function's asset is a minified bundle with its handler", () => {
    const stack = deployed();
    for (const fn of FUNCTIONS) {
      const code = fs.readFileSync(stack.functions[fn].bundle, "utf8");
      expect(stack.functions[fn].handler).toBe("index.handler");
      // Minified: few, long lines; and no TypeScript source was shipped.
      expect(code.split("\n").length).toBeLessThan(200);
      expect(fs.readdirSync(path.dirname(stack.functions[fn].bundle)).sort()).toEqual([
        "index.js",
        "index.js.map",
      ]);
    }
  });
});

describe("api (HTTP API payload 2.0)", () => {
  test("IAM-authorized launch with a base64 body: 200, one RunTask sized by the task definition, run readable", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const launched = await step("api", fixture("http-iam-launch"));
      const runId = String(bodyOf(launched.result).run_id);
      const status = await step("api", fixture("http-iam-get-run", { RUN_ID: runId }));
      return { launched, status, run: await runOf(form, runId) };
    });
    const { launched, status, run } = bundle as {
      launched: Step;
      status: Step;
      run: Record<string, unknown>;
    };
    expect((launched.result as HttpReply).statusCode).toBe(200);
    expect(bodyOf(launched.result)).toMatchObject({ run_id: "<uuid>", success: true });
    expect(launched.aws.map((r) => r.operation)).toEqual([
      "AmazonEC2ContainerServiceV20141113.RunTask",
    ]);
    const runTask = launched.aws[0]!.body as RunTaskBody;
    expect(runTask.taskDefinition).toBe("dagy-develop-worker");
    // Finding 2: no size asked for, so none is sent; the task definition (develop: small) applies.
    expect(runTask.overrides).not.toHaveProperty("cpu");
    expect(runTask.overrides.containerOverrides[0]).not.toHaveProperty("memory");
    expect(runTask.propagateTags).toBe("TASK_DEFINITION");
    // Finding 5 (API side): a request without `environment` runs in the stack's.
    expect(envOf(runTask).DAGY_ENVIRONMENT).toBe("develop");
    expect(run).toMatchObject({
      status: "QUEUED",
      workload_profile: "small",
      cpu: "256",
      memory: "512",
    });
    // The pool serves `small` but counts no idle worker: exhausted, so a cold start.
    expect(run.attempts).toEqual([expect.objectContaining({ attempt: 1, start_mode: "cold" })]);
    expect((status.result as HttpReply).statusCode).toBe(200);
    expect(bodyOf(status.result)).toMatchObject({ status: "QUEUED", flow_name: "etl_pipeline" });
  });

  test("JWT-authorized launch: the org comes from the claim", async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("api", fixture("http-jwt-launch"), {
        DAGY_API_AUTH_MODE: "jwt",
        DAGY_API_ORG_CLAIM: "org_id",
      }),
    );
    const launched = bundle as Step;
    expect((launched.result as HttpReply).statusCode).toBe(200);
    expect(envOf(launched.aws[0]!.body as RunTaskBody).DAGY_ORG_ID).toBe("acme-corp");
  });

  test("a launch of an unregistered flow is a 404 from the minified bundle too (finding 1)", async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("api", fixture("http-iam-launch-unregistered")),
    );
    const reply = (bundle as Step).result as HttpReply;
    expect(reply.statusCode).toBe(404);
    expect((bundle as Step).aws).toEqual([]);
  });

  test("the api bundle leaves registration routes to the registration function: 404 here", async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("api", registrationEvent("POST", "/dep-packages/uploads", { org_id: "acme-corp" })),
    );
    expect((bundle as Step).result).toMatchObject({ statusCode: 404 });
    expect((bundle as Step).aws).toEqual([]);
  });

  test('an unknown run is 404 {"error":"Run not found"}', async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("api", fixture("http-iam-get-run-not-found")),
    );
    expect((bundle as Step).result).toMatchObject({ statusCode: 404 });
    expect(bodyOf((bundle as Step).result)).toEqual({ error: "Run not found" });
  });

  test("a batch launches each request and reports each result", async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("api", fixture("http-iam-batch")),
    );
    const reply = (bundle as Step).result as HttpReply;
    expect(reply.statusCode).toBe(200);
    expect((bundle as Step).aws.filter((r) => r.operation.endsWith(".RunTask"))).toHaveLength(3);
  });
});

describe("api calls to Scheduler and CloudWatch Logs (service-specific endpoint variables)", () => {
  test("a time-zoned runtime schedule goes to EventBridge Scheduler; a run's log to CloudWatch Logs", async () => {
    const { bundle } = await onBothForms(async (_form, step) => {
      const schedule = await step("api", fixture("http-iam-put-schedule"));
      const launched = await step("api", fixture("http-iam-launch"));
      const runId = String(bodyOf(launched.result).run_id);
      const logs = await step("api", fixture("http-iam-get-run-logs", { RUN_ID: runId }));
      return { schedule, logs };
    });
    const { schedule, logs } = bundle as { schedule: Step; logs: Step };
    expect((schedule.result as HttpReply).statusCode).toBeLessThan(300);
    const scheduler = schedule.aws.filter((r) => r.operation.startsWith("Scheduler "));
    expect(scheduler.length).toBeGreaterThan(0);
    expect(JSON.stringify(scheduler)).toContain("Europe/Berlin");
    expect((logs.result as HttpReply).statusCode).toBe(200);
    expect(logs.aws.map((r) => r.operation)).toContain("Logs_20140328.GetLogEvents");
    expect(logs.aws[0]!.body).toMatchObject({ logGroupName: "/ecs/dagy-worker-develop" });
  });
});

describe("api batch (finding 6)", () => {
  test("an item whose RunTask ECS refuses is FAILED with the reason; the others launch; nothing stays QUEUED untracked", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      // ECS refuses the second item's task (a documented failure shape); the others start.
      form.aws.answer("RunTask", (input) => {
        const env = (
          input.overrides as {
            containerOverrides: { environment: { name: string; value: string }[] }[];
          }
        ).containerOverrides[0]!.environment;
        const date = env.find((e) => e.name === "DAGY_PARAMETERS")?.value ?? "";
        if (date.includes("2024-03-15")) {
          return {
            body: { tasks: [], failures: [{ reason: "MISSING", detail: "subnet not found" }] },
          };
        }
        return {
          body: {
            tasks: [
              {
                taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy-develop/${String(input.clientToken).replace(/-/g, "")}`,
              },
            ],
            failures: [],
          },
        };
      });
      const batch = await step("api", fixture("http-iam-batch"));
      const results = bodyOf(batch.result).results as { run_id: string | null }[];
      const runs = await Promise.all(
        results.map((r) => (r.run_id ? runOf(form, r.run_id) : Promise.resolve(undefined))),
      );
      return {
        batch,
        runs: runs.map((run) => run && { status: run.status, error_message: run.error_message }),
      };
    });
    const { batch, runs } = bundle as { batch: Step; runs: Record<string, unknown>[] };
    expect((batch.result as HttpReply).statusCode).toBe(200);
    const results = bodyOf(batch.result).results as Record<string, unknown>[];
    expect(results.map((r) => r.success)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({
      error_code: "launch_failed",
      correlation_id: "batch-req-12345:1",
    });
    expect(String(results[1]!.error)).toMatch(/MISSING subnet not found/);
    expect(runs.map((r) => r.status)).toEqual(["QUEUED", "FAILED", "QUEUED"]);
    expect(String(runs[1]!.error_message)).toMatch(/MISSING subnet not found/);
  });
});

describe("api: a parent run's worker asking for child runs (isolated maps, IAM mode)", () => {
  test("the worker task role's session launches a child of a RUNNING parent only", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const parentId = String(
        bodyOf((await step("api", fixture("http-iam-launch"))).result).run_id,
      );
      const event = () => fixture("http-iam-worker-batch", { PARENT_RUN_ID: parentId });
      const whileQueued = await step("api", event());
      await new Persistence(form.data.clients.doc, form.data.tables).runs.transition(
        parentId,
        "QUEUED",
        "RUNNING",
      );
      const whileRunning = await step("api", event());
      const childId = String(
        (bodyOf(whileRunning.result).results as { run_id: string }[])[0]!.run_id,
      );
      const child = await runOf(form, childId);
      return {
        whileQueued,
        whileRunning,
        child: child && {
          parent_run_id: child.parent_run_id === parentId,
          triggered_by: child.triggered_by,
        },
      };
    });
    const { whileQueued, whileRunning, child } = bundle as {
      whileQueued: Step;
      whileRunning: Step;
      child: Record<string, unknown>;
    };
    expect((whileQueued.result as HttpReply).statusCode).toBe(403);
    expect(bodyOf(whileQueued.result).error).toMatch(/is QUEUED/);
    expect(whileQueued.aws).toEqual([]);
    expect((whileRunning.result as HttpReply).statusCode).toBe(200);
    expect(whileRunning.aws.filter((r) => r.operation.endsWith(".RunTask"))).toHaveLength(1);
    expect(child).toEqual({
      parent_run_id: true,
      // The session name is an id: the transcripts normalize it.
      triggered_by: "arn:aws:sts::123456789012:assumed-role/dagy-develop-task/<id>",
    });
  });
});

describe("registration (HTTP API payload 2.0)", () => {
  test("a dependency package is uploaded through the presigned URL and committed by the registration bundle", async () => {
    const archive = Buffer.from(
      zipSync({ "shared_utils/index.js": new TextEncoder().encode("module.exports = 1;\n") }),
    );
    const sha256 = createHash("sha256").update(archive).digest("hex");
    const pkg = { org_id: "acme-corp", name: "shared-utils", version: "1.0.0", format: "zip" };
    const { bundle } = await onBothForms(async (form, step) => {
      const upload = await step(
        "registration",
        registrationEvent("POST", "/dep-packages/uploads", {
          ...pkg,
          sha256,
          size: archive.length,
        }),
      );
      const { upload_url: url, ...uploadRest } = bodyOf(upload.result);
      const put = await fetch(String(url), {
        method: "PUT",
        headers: uploadRest.upload_headers as Record<string, string>,
        body: archive,
      });
      await put.arrayBuffer();
      const commit = await step(
        "registration",
        registrationEvent("POST", "/dep-packages", { ...pkg, upload_id: uploadRest.upload_id }),
      );
      const listed = await step("registration", registrationEvent("GET", "/dep-packages"));
      const stored = await new Persistence(form.data.clients.doc, form.data.tables).depPackages.get(
        "shared-utils",
      );
      return {
        // The URL is signed for this form's S3 endpoint at this second: not comparable.
        upload: {
          status: (upload.result as HttpReply).statusCode,
          body: uploadRest,
          aws: upload.aws,
        },
        put: put.status,
        commit,
        listed: {
          status: (listed.result as HttpReply).statusCode,
          names: (bodyOf(listed.result).packages as { name: string }[]).map((p) => p.name),
        },
        stored,
      };
    });
    const result = bundle as {
      upload: { status: number; body: Record<string, unknown>; aws: unknown[] };
      put: number;
      commit: Step;
      listed: { status: number; names: string[] };
      stored: Record<string, unknown>;
    };
    expect(result.upload.status).toBe(200);
    expect(result.upload.aws).toEqual([]);
    expect(result.put).toBe(200);
    expect((result.commit.result as HttpReply).statusCode).toBe(200);
    expect(bodyOf(result.commit.result)).toMatchObject({
      name: "shared-utils",
      org_id: "acme-corp",
      version: "1.0.0",
      sha256,
    });
    expect(result.listed).toEqual({ status: 200, names: ["shared-utils"] });
    expect(result.stored).toMatchObject({ slug: "shared-utils", org_id: "acme-corp", sha256 });
  });
});

describe("launch (schedules and direct invocations)", () => {
  test("a direct invocation without environment launches in the stack's environment (finding 5)", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const launched = await step("launch", fixture("launch-direct"));
      const runId = String((launched.result as { run_id: string }).run_id);
      return { launched, run: await runOf(form, runId) };
    });
    const { launched, run } = bundle as { launched: Step; run: Record<string, unknown> };
    expect(launched.result).toMatchObject({ success: true, correlation_id: "direct-1" });
    expect(envOf(launched.aws[0]!.body as RunTaskBody).DAGY_ENVIRONMENT).toBe("develop");
    expect(run).toMatchObject({ environment: "develop" });
  });

  test("a config schedule's rule delivers its target input for the documented Scheduled Event", async () => {
    const input = ruleTargetInput(
      deployed().template,
      "dagy-cfg-develop-etl-daily",
      fixture("eventbridge-scheduled-event"),
    );
    expect(input).toMatchObject({
      action: "launch",
      flow_name: "etl_pipeline",
      org_id: "acme-corp",
    });
    const { bundle } = await onBothForms(async (_form, step) => step("launch", input));
    expect((bundle as Step).result).toMatchObject({ success: true });
    expect(envOf((bundle as Step).aws[0]!.body as RunTaskBody)).toMatchObject({
      DAGY_ENVIRONMENT: "develop",
      DAGY_FLOW_NAME: "etl_pipeline",
    });
  });

  test("a time-zoned config schedule's Scheduler input launches", async () => {
    const input = scheduleTargetInput(
      deployed().template,
      "dagy-cfg-develop-etl-berlin",
      fixture("scheduler-context") as Record<string, string>,
    );
    const { bundle } = await onBothForms(async (_form, step) => step("launch", input));
    expect((bundle as Step).result).toMatchObject({ success: true });
  });
});

describe("task-events (ECS Task State Change)", () => {
  test.each([
    ["with container overrides", "ecs-task-stopped-with-overrides"],
    ["without container overrides", "ecs-task-stopped-without-overrides"],
  ])("a STOPPED worker task %s", async (_label, name) => {
    const { bundle } = await onBothForms(async (form, step) => {
      const launched = await step("launch", fixture("launch-direct"));
      const { run_id: runId, task_arn: taskArn } = launched.result as {
        run_id: string;
        task_arn: string;
      };
      const event = fixture(name, {
        RUN_ID: runId,
        TASK_ARN: taskArn,
        TASK_ID: taskArn.split("/").pop()!,
      });
      expect((event as { detail: { clusterArn: string } }).detail.clusterArn).toBe(CLUSTER_ARN);
      const settled = await step("task-events", event);
      return { settled, run: await runOf(form, runId) };
    });
    const { settled, run } = bundle as { settled: Step; run: Record<string, unknown> };
    if (name === "ecs-task-stopped-with-overrides") {
      expect(run).toMatchObject({ status: "FAILED" });
      expect(String(run.error_message)).toMatch(/OutOfMemoryError/);
      // Finding 9: the closed run is announced on the default bus.
      const put = settled.aws.filter((r) => r.operation === "AWSEvents.PutEvents");
      expect(put).toHaveLength(1);
      const entry = (put[0]!.body as { Entries: Record<string, string>[] }).Entries[0]!;
      expect(entry).toMatchObject({ Source: "dagy", DetailType: "Dagy Run Status Change" });
      expect(entry).not.toHaveProperty("EventBusName");
      expect(JSON.parse(entry.Detail!)).toMatchObject({
        status: "FAILED",
        flow_name: "etl_pipeline",
        org_id: "acme-corp",
        environment: "develop",
      });
    }
    expect(settled.result).toBeDefined();
  });
});

describe("reconcile (the sweep's Scheduled Event)", () => {
  test("sweeps with the documented Scheduled Event", async () => {
    const { bundle } = await onBothForms(async (_form, step) =>
      step("reconcile", fixture("eventbridge-scheduled-event")),
    );
    expect((bundle as Step).result).toMatchObject({ examined: expect.any(Number) as number });
  });
});
