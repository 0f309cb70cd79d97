/**
 * Contract tests of warm dispatch (issue #14) over the deployed form: the stack's warm pool of
 * the `small` profile (CONTRACT_STACK_CONFIG), the `launch` bundle reserving an idle worker in
 * the pool table (dynalite) and sending its two SQS messages to the recording endpoint, and the
 * `warm-fallback` bundle consuming the fallback queue's SQS event. Each scenario runs on the
 * source handlers too, with identical results.
 */
import { createHash } from "node:crypto";
import { Persistence } from "../../lib/persistence/persistence";
import { WarmPoolRepository } from "../../lib/persistence/warm-pools";
import type { Form } from "./support/forms";
import { envOf, fixture, runOf, useForms, type RunTaskBody, type Step } from "./support/scenario";

const { onBothForms } = useForms();

const pools = (form: Form) => new WarmPoolRepository(form.data.clients.doc, form.poolTable);

/** The SQS messages a step sent, in the order they were sent, with their queue's name. */
function sentMessages(step: Step, form: Form): { queue: string; body: unknown; delay?: number }[] {
  return form.aws
    .requestsFor("SendMessage")
    .filter((r) => step.aws.includes(r))
    .map((r) => {
      const input = r.body as { QueueUrl: string; MessageBody: string; DelaySeconds?: number };
      return {
        queue: input.QueueUrl.split("/").pop()!,
        body: JSON.parse(input.MessageBody) as unknown,
        ...(input.DelaySeconds !== undefined ? { delay: input.DelaySeconds } : {}),
      };
    });
}

/**
 * The SQS event Lambda delivers for one message: the example standard queue message event of
 * "Using Lambda with Amazon SQS" (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
 * "Example standard queue message event"), one record, on the stack's fallback queue, with
 * `body` and its `md5OfBody`.
 */
function sqsEvent(body: string, messageId: string): unknown {
  return fixture("sqs-warm-fallback", {
    MESSAGE_ID: messageId,
    BODY: JSON.stringify(body).slice(1, -1),
    MD5: createHash("md5").update(body).digest("hex"),
  });
}

/** A direct launch of `etl_pipeline` (the documented direct-launch event) with `idle` workers. */
async function launchWith(
  form: Form,
  step: (fn: "launch", event: unknown) => Promise<Step>,
  idle: number,
): Promise<{ launched: Step; runId: string }> {
  for (let i = 0; i < idle; i++) await pools(form).addIdle("small");
  const launched = await step("launch", fixture("launch-direct"));
  return { launched, runId: String((launched.result as { run_id: string }).run_id) };
}

type Attempt = Record<string, unknown>;

const WARM_WORKER_TASK = "arn:aws:ecs:us-east-1:123456789012:task/dagy-develop/warmworker1";

/** The second message id of the documented example event. */
const GARBLED_ID = "2e1424d4-f796-459a-8184-9c92662be6da";

/** The JSON lines the form's handlers logged since the scenario began. */
function logLines(form: Form): Record<string, unknown>[] {
  return form.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe("launch with a warm pool (the documented direct-launch event)", () => {
  test("one idle worker: the fallback (delayed), then the assignment; no RunTask; the run waits on the warm placeholder", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const { launched, runId } = await launchWith(form, step, 1);
      const sent = sentMessages(launched, form);
      const bodies = sent.map((m) => m.body as { run_id: string; env?: Record<string, string> });
      return {
        launched,
        sent,
        // The transcripts normalize ids: say whether both messages name the launched run.
        namesTheRun:
          bodies.every((b) => b.run_id === runId) && bodies[1]?.env?.DAGY_RUN_ID === runId,
        run: await runOf(form, runId),
        idleAfter: await pools(form).idle("small"),
      };
    });
    const { launched, sent, namesTheRun, run, idleAfter } = bundle as {
      launched: Step;
      namesTheRun: boolean;
      sent: { queue: string; body: Record<string, unknown>; delay?: number }[];
      run: Record<string, unknown>;
      idleAfter: number;
    };
    expect(launched.result).toMatchObject({
      success: true,
      run_id: "<uuid>",
      task_arn: "warm:small:<uuid>",
    });
    expect(launched.aws.map((r) => r.operation)).toEqual([
      "AmazonSQS.SendMessage",
      "AmazonSQS.SendMessage",
    ]);
    // In this order: the safety net first, so no run is handed out without it.
    expect(sent.map((m) => m.queue)).toEqual([
      "dagy-develop-warm-fallback",
      "dagy-develop-warm-small",
    ]);
    expect(sent[0]).toEqual({
      queue: "dagy-develop-warm-fallback",
      body: { v: 1, run_id: "<uuid>", org_id: "acme-corp", pool: "small" },
      delay: 30,
    });
    expect(sent[1]).toEqual({
      queue: "dagy-develop-warm-small",
      body: { v: 1, run_id: "<uuid>", org_id: "acme-corp", env: expect.any(Object) as unknown },
    });
    expect(namesTheRun).toBe(true);
    const env = sent[1]!.body.env as Record<string, string>;
    // Exactly the worker environment of the run (lib/launcher/worker-spec.ts), the run's id and
    // this form's table and bucket names normalized.
    expect(env).toEqual({
      DAGY_RUN_ID: "<uuid>",
      DAGY_ORG_ID: "acme-corp",
      DAGY_FLOW_NAME: "etl_pipeline",
      DAGY_FLOW_VERSION: "1.0.0",
      DAGY_ARTIFACT_URI: "s3://dagy-artifacts-<suffix>/flows/etl_pipeline/1.0.0/artifact.zip",
      DAGY_ARTIFACT_SHA256: "a".repeat(64),
      DAGY_ENVIRONMENT: "develop",
      DAGY_CORRELATION_ID: "direct-1",
      DAGY_PARAMETERS: '{"date":"2024-03-14"}',
      DAGY_RUNS_TABLE: "dagy-test-<suffix>-runs",
      DAGY_TRACES_BUCKET: "dagy-traces-<suffix>",
      DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker-develop",
      AWS_REGION: "us-east-1",
    });
    expect(run).toMatchObject({
      status: "QUEUED",
      task_arn: "warm:small:<uuid>",
      workload_profile: "small",
    });
    expect(run.attempts).toEqual([
      expect.objectContaining({ attempt: 1, task_arn: "warm:small:<uuid>", start_mode: "warm" }),
    ]);
    expect(idleAfter).toBe(0);
  });

  test("no idle worker: pool exhausted, one RunTask, started cold; the assignment env is exactly the cold task's", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const cold = await launchWith(form, step, 0);
      const warm = await launchWith(form, step, 1);
      const warmEnv = (sentMessages(warm.launched, form)[1]?.body as { env: unknown }).env;
      return {
        launched: cold.launched,
        run: await runOf(form, cold.runId),
        coldEnv: envOf(cold.launched.aws[0]!.body as RunTaskBody),
        warmEnv,
      };
    });
    const { launched, run, coldEnv, warmEnv } = bundle as {
      launched: Step;
      run: Record<string, unknown>;
      coldEnv: Record<string, string>;
      warmEnv: Record<string, string>;
    };
    expect(launched.aws.map((r) => r.operation)).toEqual([
      "AmazonEC2ContainerServiceV20141113.RunTask",
    ]);
    expect((launched.aws[0]!.body as RunTaskBody).taskDefinition).toBe("dagy-develop-worker");
    expect(run).toMatchObject({
      status: "QUEUED",
      task_arn: expect.stringMatching(/^arn:aws:ecs:/) as unknown,
    });
    expect(run.attempts).toEqual([expect.objectContaining({ attempt: 1, start_mode: "cold" })]);
    // The warm worker receives exactly the container environment a cold task is given.
    expect(warmEnv).toEqual(coldEnv);
  });
});

describe("api with a warm pool (HTTP API payload 2.0)", () => {
  test("an IAM-authorized launch with one idle worker goes warm: two SendMessage, no RunTask", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      await pools(form).addIdle("small");
      const launched = await step("api", fixture("http-iam-launch"));
      const runId = String(
        (JSON.parse((launched.result as { body: string }).body) as { run_id: string }).run_id,
      );
      return { launched, sent: sentMessages(launched, form), run: await runOf(form, runId) };
    });
    const { launched, sent, run } = bundle as {
      launched: Step;
      sent: { queue: string }[];
      run: Record<string, unknown>;
    };
    expect(launched.result).toMatchObject({ statusCode: 200 });
    expect(launched.aws.map((r) => r.operation)).toEqual([
      "AmazonSQS.SendMessage",
      "AmazonSQS.SendMessage",
    ]);
    expect(sent.map((m) => m.queue)).toEqual([
      "dagy-develop-warm-fallback",
      "dagy-develop-warm-small",
    ]);
    expect(run).toMatchObject({ status: "QUEUED", task_arn: "warm:small:<uuid>" });
  });
});

describe("warm-fallback (the documented SQS event, ReportBatchItemFailures)", () => {
  test("an unclaimed warm dispatch is launched cold once; the same message again launches nothing", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const { launched, runId } = await launchWith(form, step, 1);
      const fallbackBody = (form.aws.requestsFor("SendMessage")[0]!.body as { MessageBody: string })
        .MessageBody;
      const event = sqsEvent(fallbackBody, "059f36b4-87a3-44ab-83d2-661975830a7d");
      const first = await step("warm-fallback", event);
      const afterFirst = await runOf(form, runId);
      const again = await step("warm-fallback", event);
      const coldRunId = first.aws[0] && envOf(first.aws[0].body as RunTaskBody).DAGY_RUN_ID;
      return {
        launched: launched.result,
        first,
        coldTaskRunsThisRun: coldRunId === runId,
        again,
        afterFirst,
        run: await runOf(form, runId),
      };
    });
    const { first, coldTaskRunsThisRun, again, afterFirst, run } = bundle as {
      first: Step;
      coldTaskRunsThisRun: boolean;
      again: Step;
      afterFirst: Record<string, unknown>;
      run: Record<string, unknown>;
    };
    expect(first.result).toEqual({ batchItemFailures: [] });
    expect(first.aws.map((r) => r.operation)).toEqual([
      "AmazonEC2ContainerServiceV20141113.RunTask",
    ]);
    const runTask = first.aws[0]!.body as RunTaskBody;
    expect(runTask.taskDefinition).toBe("dagy-develop-worker");
    expect(coldTaskRunsThisRun).toBe(true);
    expect(afterFirst).toMatchObject({
      status: "QUEUED",
      task_arn: expect.stringMatching(/^arn:aws:ecs:/) as unknown,
    });
    const attempts = afterFirst.attempts as Attempt[];
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatchObject({
      attempt: 1,
      task_arn: "warm:small:<uuid>",
      start_mode: "warm",
      outcome: "unclaimed",
      reason: "no warm worker of pool small claimed the run; launched cold",
      stopped_at: "<time>",
    });
    expect(attempts[1]).toMatchObject({
      attempt: 2,
      task_arn: afterFirst.task_arn,
      start_mode: "cold",
      workload_profile: "small",
    });
    // Delivered again (SQS is at-least-once): no second task, the run unchanged.
    expect(again.result).toEqual({ batchItemFailures: [] });
    expect(again.aws).toEqual([]);
    expect(run).toEqual(afterFirst);
  });

  test("a garbled body is dropped, not returned for retry; the valid message beside it still launches", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const { runId } = await launchWith(form, step, 1);
      const fallbackBody = (form.aws.requestsFor("SendMessage")[0]!.body as { MessageBody: string })
        .MessageBody;
      const garbled = sqsEvent('{"v":1,"run_id":', GARBLED_ID) as {
        Records: unknown[];
      };
      const valid = sqsEvent(fallbackBody, "059f36b4-87a3-44ab-83d2-661975830a7d") as {
        Records: unknown[];
      };
      const alone = await step("warm-fallback", garbled);
      const batch = await step("warm-fallback", {
        Records: [...garbled.Records, ...valid.Records],
      });
      const run = await runOf(form, runId);
      return {
        alone,
        batch,
        attempts: (run?.attempts as Attempt[]).map((a) => a.outcome ?? null),
        reported: logLines(form)
          .filter((line) => line.event_type === "warm_fallback_refused")
          .map(({ level, message, message_id, problem }) => ({
            level,
            text: message,
            // The transcripts normalize ids: say which message it names.
            message: message_id === GARBLED_ID ? "the garbled one" : message_id,
            problem,
          })),
      };
    });
    const { alone, batch, attempts, reported } = bundle as {
      alone: Step;
      batch: Step;
      attempts: unknown[];
      reported: unknown[];
    };
    // lib/reconcile/warm-fallback.ts: a garbled message is logged and dropped (a retry would
    // not fix it); only I/O errors are listed in batchItemFailures.
    expect(alone.result).toEqual({ batchItemFailures: [] });
    expect(alone.aws).toEqual([]);
    expect(batch.result).toEqual({ batchItemFailures: [] });
    expect(batch.aws.map((r) => r.operation)).toEqual([
      "AmazonEC2ContainerServiceV20141113.RunTask",
    ]);
    expect(attempts).toEqual(["unclaimed", null]);
    // Reported in the function's log, once per delivery, naming the message and the problem.
    const refusal = {
      level: "warn",
      text: "warm fallback message refused; dropped",
      message: "the garbled one",
      problem: "body: not JSON",
    };
    expect(reported).toEqual([refusal, refusal]);
  });

  test("a run a warm worker claimed (RUNNING) is left alone", async () => {
    const { bundle } = await onBothForms(async (form, step) => {
      const { runId } = await launchWith(form, step, 1);
      const fallbackBody = (form.aws.requestsFor("SendMessage")[0]!.body as { MessageBody: string })
        .MessageBody;
      // A warm worker's claim (lib/worker/run-host.ts): QUEUED -> RUNNING on condition that the
      // task is still the placeholder, writing its own ECS task ARN.
      const runs = new Persistence(form.data.clients.doc, form.data.tables).runs;
      await runs.transition(
        runId,
        "QUEUED",
        "RUNNING",
        { task_arn: WARM_WORKER_TASK },
        { taskArn: `warm:small:${runId}` },
      );
      const before = await runOf(form, runId);
      const fallback = await step(
        "warm-fallback",
        sqsEvent(fallbackBody, "059f36b4-87a3-44ab-83d2-661975830a7d"),
      );
      return { fallback, before, run: await runOf(form, runId) };
    });
    const { fallback, before, run } = bundle as {
      fallback: Step;
      before: Record<string, unknown>;
      run: Record<string, unknown>;
    };
    expect(fallback.result).toEqual({ batchItemFailures: [] });
    expect(fallback.aws).toEqual([]);
    expect(run).toEqual(before);
    expect(run).toMatchObject({ status: "RUNNING", task_arn: WARM_WORKER_TASK });
    expect((run.attempts as Attempt[]).map((a) => a.outcome ?? null)).toEqual([null]);
  });
});
