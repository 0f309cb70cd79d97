/**
 * Warm pools on Fargate (issue #14): what the launching Lambdas and the warm-fallback Lambda
 * get, the outputs, and that a stack without `warmPool` has none of it.
 */
import { WARM_ENV } from "../../lib/config/env";
import { ENTRY_POINT_VARIABLES, type EntryPoint } from "../../lib/config/runtime";
import { envFromStackOutputs } from "../../lib/config/stack-outputs";
import { actionsOfRole, buildStack, statementsOfRole, type BuiltStack } from "./helpers";
import {
  arnOf,
  buildWarmStack,
  envOf,
  id,
  joined,
  LAUNCHING,
  queueId,
  ref,
  roleOf,
} from "./warm-helpers";

let warm: BuiltStack;
let plain: BuiltStack;

beforeAll(() => {
  warm = buildWarmStack();
  plain = buildStack({ environment: "develop" });
});

describe("warm dispatch and fallback", () => {
  test("every launching Lambda gets DAGY_WARM_POOLS, the pool table and the fallback queue", () => {
    const template = warm.template;
    const small = queueId(template, "Small");
    const medium = queueId(template, "Medium");
    for (const name of LAUNCHING) {
      const env = envOf(template, name);
      expect(JSON.parse(joined(env[WARM_ENV.pools]))).toEqual([
        { pool: "small", queue_url: `<${small}>`, cpu: "256", memory: "512" },
        { pool: "medium", queue_url: `<${medium}>`, cpu: "1024", memory: "2048" },
      ]);
      expect(env[WARM_ENV.poolTable]).toEqual(
        ref(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable")),
      );
      expect(env[WARM_ENV.fallbackQueueUrl]).toEqual(
        ref(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue")),
      );
    }
  });

  test("launching Lambdas may SendMessage to the pool and fallback queues and UpdateItem the pool table; nothing more of them", () => {
    const template = warm.template;
    const queues = [
      arnOf(queueId(template, "Small")),
      arnOf(queueId(template, "Medium")),
      arnOf(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue")),
    ];
    const poolTable = arnOf(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable"));
    for (const name of LAUNCHING) {
      const statements = statementsOfRole(template, roleOf(template, name));
      const onWarm = statements.filter((s) => JSON.stringify(s.Resource).includes("WarmPools"));
      const expected = [
        { Effect: "Allow", Action: "sqs:SendMessage", Resource: queues },
        { Effect: "Allow", Action: "dynamodb:UpdateItem", Resource: [poolTable] },
      ];
      expect([name, onWarm]).toEqual([name, expect.arrayContaining(expected)]);
      expect([name, onWarm.length]).toEqual([name, expected.length]);
    }
    // Relaunches are cold: the relaunchers get none of it; warm-fallback only consumes its queue.
    for (const name of ["TaskEvents", "Reconcile"]) {
      expect(Object.keys(envOf(template, name)).filter((v) => v.includes("WARM"))).toEqual([]);
    }
    const fallback = statementsOfRole(template, roleOf(template, "WarmFallback")).filter((s) =>
      JSON.stringify(s.Resource).includes("WarmPools"),
    );
    expect(fallback).toEqual([
      {
        Effect: "Allow",
        Action: [
          "sqs:ReceiveMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueUrl",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
        ],
        Resource: queues[2],
      },
    ]);
    // Without pools nothing of the kind exists.
    for (const name of ["Api", "Launch", "TaskEvents", "Reconcile"]) {
      expect(Object.keys(envOf(plain.template, name)).filter((v) => v.includes("WARM"))).toEqual(
        [],
      );
    }
  });

  test("warm-fallback: fed by the fallback queue in batches of 10, reporting failed items; a relauncher's rights", () => {
    const template = warm.template;
    const fallbackQueue = id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue");
    const fn = id(template, "AWS::Lambda::Function", "FunctionsWarmFallbackFunction");
    template.hasResourceProperties("AWS::Lambda::Function", {
      FunctionName: "dagy-develop-warm-fallback",
      Runtime: "nodejs22.x",
      Timeout: 60,
    });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: ref(fn),
      EventSourceArn: arnOf(fallbackQueue),
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    // Lambda needs the visibility timeout at least the function's; AWS advises six times it.
    template.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "dagy-develop-warm-fallback",
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: {
        deadLetterTargetArn: arnOf(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackDeadLetter")),
        maxReceiveCount: 5,
      },
    });
    // Its launch rights are task-events' (RunTask, PassRole, the runs table).
    const relauncher = actionsOfRole(template, roleOf(template, "TaskEvents")).filter(
      (a) => a.startsWith("ecs:") || a === "iam:PassRole" || a.startsWith("dynamodb:"),
    );
    const actions = actionsOfRole(template, roleOf(template, "WarmFallback"));
    expect(actions).toEqual(expect.arrayContaining(relauncher));
    expect(actions.filter((a) => !relauncher.includes(a))).toEqual(
      [
        "events:PutEvents",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
      ].sort(),
    );
  });

  test("every Lambda gets the variables its entry point reads, warm-fallback included", () => {
    const functions = Object.values(warm.template.findResources("AWS::Lambda::Function"));
    for (const entry of ["api", "launch", "task-events", "reconcile", "warm-fallback"]) {
      const fn = functions.find((f) =>
        String(f.Properties.FunctionName ?? "").endsWith(`-${entry}`),
      );
      const variables = Object.keys(fn!.Properties.Environment.Variables as object).filter(
        (v) => v !== "NODE_OPTIONS",
      );
      const spec = ENTRY_POINT_VARIABLES[entry as EntryPoint];
      expect(variables).toEqual(expect.arrayContaining([...spec.required, ...spec.ecsOnly]));
      const known = new Set([...spec.required, ...spec.ecsOnly, ...spec.optional]);
      expect([entry, variables.filter((v) => !known.has(v))]).toEqual([entry, []]);
    }
  });

  test("dead-letter queues and the fallback function raise alarms on the alarm topic", () => {
    const template = warm.template;
    const topic = ref(id(template, "AWS::SNS::Topic", "MonitoringAlarmTopic"));
    for (const name of ["warm-small-dlq", "warm-medium-dlq", "warm-fallback-dlq"]) {
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        AlarmName: `dagy-develop-${name}`,
        MetricName: "ApproximateNumberOfMessagesVisible",
        Threshold: 1,
        AlarmActions: [topic],
      });
    }
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "dagy-develop-warm-fallback-errors",
    });
  });

  test("outputs name the pools, the pool table and the fallback queue; the CLI maps them to DAGY_WARM_*", () => {
    const outputs = warm.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const env = envFromStackOutputs(
      ["DagyWarmPools", "DagyWarmPoolTable", "DagyWarmFallbackQueueUrl"].map((key) => ({
        OutputKey: key,
        OutputValue: joined(outputs[key]!.Value),
      })),
    );
    expect(Object.keys(env).sort()).toEqual(
      [WARM_ENV.fallbackQueueUrl, WARM_ENV.poolTable, WARM_ENV.pools].sort(),
    );
    expect(JSON.parse(env[WARM_ENV.pools]!)).toHaveLength(2);
    const plainOutputs = Object.keys(plain.template.toJSON().Outputs as object);
    expect(plainOutputs.filter((key) => key.startsWith("DagyWarm"))).toEqual([]);
  });
});

describe("without warmPool", () => {
  test("no pool table, queue, service or warm-fallback function", () => {
    const template = plain.template;
    expect(Object.keys(template.findResources("AWS::ECS::Service"))).toEqual([]);
    expect(Object.keys(template.findResources("AWS::Lambda::EventSourceMapping"))).toEqual([]);
    expect(
      Object.keys(template.findResources("AWS::SQS::Queue")).filter((k) => k.includes("Warm")),
    ).toEqual([]);
    expect(Object.keys(template.findResources("AWS::DynamoDB::Table"))).toHaveLength(4);
    expect(Object.keys(template.findResources("AWS::Lambda::Function")).join()).not.toContain(
      "WarmFallback",
    );
  });
});
