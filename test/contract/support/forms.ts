/**
 * One "form" of the handlers over its own local servers: `source` (lambda/*.ts as the other
 * tests run them) or `bundle` (the synthesized asset's index.js, as AWS runs it). Both get the
 * environment the template gives each function — literal values as synthesized, references
 * resolved to this test's tables, buckets and ARNs — plus what the Lambda runtime adds
 * (region, credentials) and where this test's servers listen.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startTestEnv, type TestEnv } from "../../support/local-servers";
import { createPoolTable } from "../../support/warm-pool-table";
import { startAwsEndpoint, type AwsEndpoint } from "./aws-endpoint";
import { resolveIntrinsic, type DeployedStack, type FunctionName } from "./deployed-stack";

export type FormKind = "source" | "bundle";
type Handler = (event: unknown) => Promise<unknown>;

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";
export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/dagy-develop`;

const SOURCE_ENTRIES: Record<FunctionName, string> = {
  api: "../../../lambda/api",
  registration: "../../../lambda/registration",
  launch: "../../../lambda/launch",
  "task-events": "../../../lambda/task-events",
  reconcile: "../../../lambda/reconcile",
  "warm-fallback": "../../../lambda/warm-fallback",
};

export interface Form {
  readonly kind: FormKind;
  readonly data: TestEnv;
  /** The warm pool table (DAGY_WARM_POOL_TABLE) in this form's dynalite; it starts empty. */
  readonly poolTable: string;
  readonly aws: AwsEndpoint;
  /** What the handlers wrote to stdout (their log lines), in order; emptied by `reset()`. */
  readonly logs: string[];
  /** Forgets the recorded AWS requests, their answers set with `aws.answer`, and the logs. */
  reset(): void;
  /** Invokes the function's handler as Lambda would: with the event, once loaded (cold start once). */
  invoke(fn: FunctionName, event: unknown, variant?: Record<string, string>): Promise<unknown>;
  close(): Promise<void>;
}

/** Values for the variables CloudFormation resolves at deploy time, here. */
function referenceValues(data: TestEnv, poolTable: string): Record<string, string> {
  return {
    DAGY_WARM_POOL_TABLE: poolTable,
    DAGY_ECS_CLUSTER_ARN: CLUSTER_ARN,
    DAGY_ECS_EXECUTION_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/dagy-develop-execution`,
    DAGY_ECS_TASK_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/dagy-develop-task`,
    DAGY_ECS_WORKER_IMAGE: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/cdk-hnb659fds-container-assets:abc`,
    DAGY_ECS_SUBNETS: "subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002",
    DAGY_ECS_SECURITY_GROUPS: "sg-0a1b2c3d4e5f60003",
    DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker-develop",
    DAGY_ARTIFACT_BUCKET: data.buckets.artifacts,
    DAGY_TRACES_BUCKET: data.buckets.traces,
    DAGY_FLOWS_TABLE: data.tables.flows,
    DAGY_RUNS_TABLE: data.tables.runs,
    DAGY_DEPLOYMENTS_TABLE: data.tables.deployments,
    DAGY_DEP_PACKAGES_TABLE: data.tables.depPackages,
    DAGY_LAUNCH_FUNCTION_ARN: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:dagy-develop-launch`,
    DAGY_SCHEDULER_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/dagy-develop-scheduler`,
    DAGY_SECRET_ARN_PATTERNS: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:dagy/*`,
  };
}

/**
 * A queue's URL (what `Ref` of an AWS::SQS::Queue resolves to), on the recording endpoint:
 * `<endpoint>/<account>/<QueueName>`. The SQS client sends each request to its QueueUrl's
 * host unless an endpoint is configured in code (@aws-sdk/middleware-sdk-sqs, queueUrlMiddleware;
 * AWS_ENDPOINT_URL_SQS does not count), so a URL on sqs.<region>.amazonaws.com would leave the
 * test; with it here, both agree as in AWS, where the QueueUrl host is the regional endpoint.
 */
function queueUrls(aws: AwsEndpoint) {
  return (_id: string, resource: { Type: string; Properties?: Record<string, unknown> }) =>
    resource.Type === "AWS::SQS::Queue" && typeof resource.Properties?.QueueName === "string"
      ? `${aws.url}/${ACCOUNT}/${resource.Properties.QueueName}`
      : undefined;
}

/** The function's environment as deployed here. Throws for a reference this test cannot resolve. */
export function deployedEnvironment(
  stack: DeployedStack,
  fn: FunctionName,
  form: { readonly data: TestEnv; readonly poolTable: string; readonly aws: AwsEndpoint },
): Record<string, string> {
  const { data, aws } = form;
  const refs = referenceValues(data, form.poolTable);
  const env: Record<string, string> = {};
  const { environment, references } = stack.functions[fn];
  for (const [name, value] of Object.entries(environment)) {
    if (name === "NODE_OPTIONS") continue; // read by node at start-up, not by the handler
    const resolved =
      value ?? resolveIntrinsic(stack.template, references[name], queueUrls(aws)) ?? refs[name];
    if (resolved === undefined) {
      throw new Error(`${fn}: ${name} is a deploy-time reference the contract tests do not know`);
    }
    env[name] = resolved;
  }
  return {
    ...env,
    // What the Lambda runtime sets.
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_SESSION_TOKEN: "contract-test",
    AWS_LAMBDA_FUNCTION_NAME: `dagy-develop-${fn}`,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    // Where this test's servers listen.
    DAGY_DYNAMODB_ENDPOINT: data.endpoints.dynamodbEndpoint,
    DAGY_S3_ENDPOINT: data.endpoints.s3Endpoint,
    ...aws.env,
  };
}

async function withEnv<T>(values: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const previous = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  try {
    return await body();
  } finally {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** A bundle in its own Node process, as the Lambda runtime runs it; kept warm between events. */
class BundleProcess {
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<number, (reply: RunnerReply) => void>();
  private nextId = 1;

  constructor(bundle: string, exportName: string, env: Record<string, string>) {
    this.child = fork(path.join(__dirname, "lambda-runner.js"), [bundle, exportName], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      execArgv: ["--enable-source-maps"],
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on("message", (message: RunnerReply) => {
        if (message.type === "ready") resolve();
        else if (message.type === "init-error") reject(new Error(message.error?.stack));
        else if (message.id !== undefined) this.pending.get(message.id)?.(message);
      });
      this.child.on("exit", (code) => reject(new Error(`bundle process exited with ${code}`)));
    });
  }

  async invoke(event: unknown, logs: string[]): Promise<unknown> {
    await this.ready;
    const id = this.nextId++;
    const reply = await new Promise<RunnerReply>((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ id, event });
    });
    this.pending.delete(id);
    logs.push(...(reply.logs ?? []));
    if (reply.error)
      throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.result;
  }

  close(): void {
    this.child.kill();
  }
}

interface RunnerReply {
  readonly type?: "ready" | "init-error";
  readonly id?: number;
  readonly result?: unknown;
  readonly error?: { message: string; stack?: string; code?: string };
  readonly logs?: string[];
}

/** Runs `body` with what it writes to stdout also appended to `logs`, line by line. */
async function capturingStdout<T>(logs: string[], body: () => Promise<T>): Promise<T> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array, ...rest: never[]) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return write(chunk, ...rest);
  };
  try {
    return await body();
  } finally {
    process.stdout.write = write;
    logs.push(
      ...chunks
        .join("")
        .split("\n")
        .filter((line) => line.length > 0),
    );
  }
}

export async function startForm(kind: FormKind, stack: DeployedStack): Promise<Form> {
  const data = await startTestEnv();
  const poolTable = await createPoolTable(data);
  const aws = await startAwsEndpoint();
  const logs: string[] = [];
  const sources = new Map<string, Handler>();
  const bundles = new Map<string, BundleProcess>();
  const sourceHandler = (fn: FunctionName, key: string): Handler => {
    let handler = sources.get(key);
    if (!handler) {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(path.join(__dirname, SOURCE_ENTRIES[fn])) as Record<string, Handler>;
        handler = mod.handler;
      });
      if (!handler) throw new Error(`lambda/${fn}.ts: no handler export`);
      sources.set(key, handler);
    }
    return handler;
  };
  return {
    kind,
    data,
    poolTable,
    aws,
    logs,
    reset() {
      aws.reset();
      logs.length = 0;
    },
    invoke(fn, event, variant = {}) {
      const env = { ...deployedEnvironment(stack, fn, { data, poolTable, aws }), ...variant };
      const key = `${fn}|${JSON.stringify(variant)}`;
      // Events cross a process boundary in Lambda: they arrive as parsed JSON.
      const payload = JSON.parse(JSON.stringify(event)) as unknown;
      if (kind === "bundle") {
        let process = bundles.get(key);
        if (!process) {
          const { bundle, handler } = stack.functions[fn];
          if (!fs.existsSync(bundle)) throw new Error(`no bundle ${bundle}`);
          process = new BundleProcess(bundle, handler.split(".").pop() ?? "handler", env);
          bundles.set(key, process);
        }
        return process.invoke(payload, logs);
      }
      return withEnv(env, () => capturingStdout(logs, () => sourceHandler(fn, key)(payload)));
    },
    async close() {
      for (const process of bundles.values()) process.close();
      await aws.close();
      await data.close();
    },
  };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const HEX32 = /\b[0-9a-f]{32}\b/g;
const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;

/**
 * Output with what legitimately differs between two forms replaced: ids, clocks, this form's
 * table and bucket names, durations.
 */
export function normalize(form: Form, value: unknown): unknown {
  let text = JSON.stringify(value ?? null);
  // Queue URLs name this form's recording endpoint (see queueUrls).
  text = text.split(form.aws.url).join("<aws-endpoint>");
  // Every table and bucket name of a test environment carries one random suffix.
  const suffix = /-([0-9a-f]{8})-runs$/.exec(form.data.tables.runs)?.[1];
  if (suffix !== undefined) text = text.split(suffix).join("<suffix>");
  text = text
    .replace(UUID, "<uuid>")
    .replace(HEX32, "<id>")
    .replace(ISO_TIME, "<time>")
    .replace(/(\\?")(duration_ms|LaunchLatency|Timestamp|elapsed_ms)(\\?"):\d+/g, "$1$2$3:0");
  return JSON.parse(text) as unknown;
}
