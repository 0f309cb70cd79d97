/**
 * A local endpoint for the AWS services with no wire-compatible server (ECS, EventBridge,
 * CloudWatch Logs, EventBridge Scheduler, SQS): it speaks their JSON protocols — awsJson1_1
 * (POST / with `X-Amz-Target: <Service>.<Operation>`), for SQS awsJson1_0 (the same, with
 * `X-Amz-Target: AmazonSQS.<Operation>` and content type application/x-amz-json-1.0: the SDK
 * v3 SQS client's protocol, @aws-sdk/client-sqs AwsJson1_0Protocol with serviceTarget
 * "AmazonSQS") and, for Scheduler, restJson1 — answers with
 * documented response shapes, and records every request. The handlers reach it through the
 * SDK's service-specific endpoint variables (AWS_ENDPOINT_URL_<SERVICE>), which is also how a
 * deployed function would be pointed elsewhere: no code path differs.
 */
import { createHash, randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  /** `AmazonEC2ContainerServiceV20141113.RunTask`, or `Scheduler PUT /schedules/x`. */
  readonly operation: string;
  readonly body: unknown;
}

export type Answer = (body: Record<string, unknown>) => { status?: number; body: unknown };

export interface AwsEndpoint {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests for one operation (its short name, e.g. `RunTask`). */
  requestsFor(operation: string): RecordedRequest[];
  /** Replaces the answer to one operation (its short name) until `reset()`. */
  answer(operation: string, answer: Answer): void;
  /** The variables pointing every SDK client without a local server here. */
  readonly env: Readonly<Record<string, string>>;
  reset(): void;
  close(): Promise<void>;
}

const ACCOUNT = "123456789012";
const REGION = "us-east-1";

/** Documented success shapes, minimal but complete enough for the SDK's deserializers. */
const DEFAULT_ANSWERS: Record<string, Answer> = {
  RunTask: (input) => ({
    body: {
      tasks: [
        {
          taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/dagy/${(typeof input.clientToken === "string" ? input.clientToken : randomUUID()).replace(/-/g, "")}`,
          lastStatus: "PROVISIONING",
          desiredStatus: "RUNNING",
          clusterArn: input.cluster,
          taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${String(input.taskDefinition)}:1`,
        },
      ],
      failures: [],
    },
  }),
  StopTask: (input) => ({ body: { task: { taskArn: input.task, desiredStatus: "STOPPED" } } }),
  DescribeTasks: (input) => ({
    body: {
      tasks: [],
      failures: ((input.tasks as string[] | undefined) ?? []).map((arn) => ({
        arn,
        reason: "MISSING",
      })),
    },
  }),
  PutEvents: (input) => ({
    body: {
      FailedEntryCount: 0,
      Entries: ((input.Entries as unknown[] | undefined) ?? []).map(() => ({
        EventId: randomUUID(),
      })),
    },
  }),
  PutRule: (input) => ({
    body: { RuleArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${String(input.Name)}` },
  }),
  PutTargets: () => ({ body: { FailedEntryCount: 0, FailedEntries: [] } }),
  ListRules: () => ({ body: { Rules: [] } }),
  // No rule exists until created: awsJson1_1 errors carry their type in `__type`.
  ListTargetsByRule: (input) => ({
    status: 400,
    body: {
      __type: "ResourceNotFoundException",
      message: `Rule ${String(input.Rule)} does not exist.`,
    },
  }),
  // SQS SendMessage: the SDK checks MD5OfMessageBody against the body it sent
  // (@aws-sdk/middleware-sdk-sqs, "Invalid MD5 checksum"), so it is the body's MD5 in hex, as
  // SQS computes it ("An MD5 digest of the non-URL-encoded message body string"):
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
  SendMessage: (input) => ({
    body: {
      MessageId: randomUUID(),
      MD5OfMessageBody: createHash("md5").update(String(input.MessageBody), "utf8").digest("hex"),
    },
  }),
  GetLogEvents: () => ({
    body: { events: [], nextForwardToken: "f/0", nextBackwardToken: "b/0" },
  }),
};

/**
 * EventBridge Scheduler (restJson1): no schedule exists until created. GetSchedule answers
 * ResourceNotFoundException (404), Create/Update the schedule's ARN.
 */
function schedulerAnswer(
  method: string,
  url: string,
): { status?: number; body: unknown; errorType?: string } {
  const name = decodeURIComponent((url.split("?")[0] ?? "").replace(/^\/schedules\//, ""));
  if (method === "GET" && url.startsWith("/schedules/")) {
    return {
      status: 404,
      errorType: "ResourceNotFoundException",
      body: { Message: `Schedule ${name} does not exist.` },
    };
  }
  if (method === "POST" || method === "PUT") {
    return { body: { ScheduleArn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${name}` } };
  }
  return { body: {} };
}

export async function startAwsEndpoint(): Promise<AwsEndpoint> {
  const requests: RecordedRequest[] = [];
  const overrides = new Map<string, Answer>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      const target = req.headers["x-amz-target"];
      const operation =
        typeof target === "string" ? target : `Scheduler ${req.method ?? ""} ${req.url ?? ""}`;
      requests.push({ operation, body });
      const short = typeof target === "string" ? (target.split(".").pop() ?? "") : "";
      const answer = overrides.get(short) ?? DEFAULT_ANSWERS[short];
      const reply =
        typeof target === "string"
          ? answer
            ? answer(body)
            : { status: 200, body: {} }
          : schedulerAnswer(req.method ?? "GET", req.url ?? "/");
      const errorType = (reply as { errorType?: string }).errorType;
      res.writeHead(reply.status ?? 200, {
        // Answered in the request's own JSON protocol version (1.0 for SQS, 1.1 for the others).
        "content-type":
          typeof target === "string"
            ? (req.headers["content-type"] ?? "application/x-amz-json-1.1")
            : "application/json",
        "x-amzn-requestid": randomUUID(),
        ...(errorType !== undefined ? { "x-amzn-errortype": errorType } : {}),
      });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    requestsFor: (operation) => requests.filter((r) => r.operation.endsWith(`.${operation}`)),
    answer: (operation, answer) => overrides.set(operation, answer),
    env: {
      AWS_ENDPOINT_URL_ECS: url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: url,
      AWS_ENDPOINT_URL_SCHEDULER: url,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: url,
      AWS_ENDPOINT_URL_SQS: url,
    },
    reset() {
      requests.length = 0;
      overrides.clear();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
