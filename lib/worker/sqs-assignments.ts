/**
 * A Fargate warm worker's assignments (issue #14): it long-polls its pool's SQS queue for one
 * run, `{"v":1,"run_id":"…","org_id":"…","env":{…}}` (lib/launcher/warm-dispatch.ts writes it).
 *
 * - ReceiveMessage with WaitTimeSeconds 20, SQS's maximum long poll, and MaxNumberOfMessages 1:
 *   a worker takes one run, and a message it does not hold stays free for its peers. Sources:
 *   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html
 *   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
 * - The body is hostile input until proven otherwise: an unknown version, a missing or extra
 *   field, a non-string value, a name outside the worker's variables (WORKER_ENV) and the
 *   caller-settable ones (lib/sdk/env-names.ts), or env disagreeing with run_id/org_id: the
 *   message is logged, deleted and never run.
 * - SQS is at-least-once: a duplicate is harmless because the run's QUEUED -> RUNNING claim is
 *   conditional; the worker acks (DeleteMessage) once it claimed the run or lost the claim.
 */
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { PLATFORM_ENV, WARM_ENV, WORKER_ENV } from "../config/env";
import { ConfigurationError } from "../errors";
import { validateOrgId, validateRunId } from "../identifiers";
import { createJsonLogger, type JsonLogger } from "../log";
import { validatePoolName, WarmPoolRepository } from "../persistence/warm-pools";
import { envNameProblem, envTotalProblem, envValueProblem } from "../sdk/env-names";
import type { Assignment, AssignmentSource } from "./warm";

/** SQS's longest long poll (seconds). */
export const RECEIVE_WAIT_SECONDS = 20;
/** An SQS message is at most 256 KiB (the queue's default MaximumMessageSize). */
export const MAX_ASSIGNMENT_BYTES = 256 * 1024;
/** Pause after a failed ReceiveMessage, so a broken network does not spin. */
export const RECEIVE_ERROR_PAUSE_MS = 1_000;

/** Names a run's environment may carry beside caller-settable ones. */
const WORKER_NAMES = new Set<string>([...Object.values(WORKER_ENV), PLATFORM_ENV.region]);
const FIELDS = ["v", "run_id", "org_id", "env"] as const;

/** A checked assignment body. */
export interface AssignmentBody {
  readonly runId: string;
  readonly orgId: string;
  readonly env: Readonly<Record<string, string>>;
}

function problemOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses one message body; returns the problem as a string when it must not run. */
export function parseAssignmentBody(body: string | undefined): AssignmentBody | string {
  if (typeof body !== "string" || body.length === 0) return "body: empty";
  if (Buffer.byteLength(body, "utf8") > MAX_ASSIGNMENT_BYTES) {
    return `body: larger than ${MAX_ASSIGNMENT_BYTES} bytes`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "body: not JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return "body: must be a JSON object";
  }
  const message = parsed as Record<string, unknown>;
  const extra = Object.keys(message).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) return `body: unknown field(s) ${extra.slice(0, 5).join(", ")}`;
  if (message.v !== 1) return `v: unsupported version ${JSON.stringify(message.v) ?? "(missing)"}`;
  let runId: string;
  let orgId: string;
  try {
    runId = validateRunId(message.run_id);
    orgId = validateOrgId(message.org_id);
  } catch (error) {
    return problemOf(error);
  }
  const env = message.env;
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    return "env: must be an object of variable names to string values";
  }
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (typeof value !== "string") return `env.${name}: must be a string`;
    if (!WORKER_NAMES.has(name)) {
      const problem = envNameProblem(name);
      if (problem !== undefined) return `env.${name}: ${problem}`;
    }
    const valueProblem = envValueProblem(value);
    if (valueProblem !== undefined) return `env.${name}: ${valueProblem}`;
    vars[name] = value;
  }
  const total = envTotalProblem(vars);
  if (total !== undefined) return `env: ${total}`;
  if (vars[WORKER_ENV.runId] !== runId) return `env.${WORKER_ENV.runId}: must equal run_id`;
  if (vars[WORKER_ENV.orgId] !== orgId) return `env.${WORKER_ENV.orgId}: must equal org_id`;
  return { runId, orgId, env: vars };
}

export interface SqsAssignmentClients {
  readonly doc: DynamoDBDocumentClient;
  /** Default: a client for AWS_REGION (tests inject a mocked one). */
  readonly sqs?: Pick<SQSClient, "send">;
  /** Default: JSON lines on stdout, `component: "warm-worker"`. */
  readonly logger?: JsonLogger;
  /** Waits `ms` unless aborted (tests make it instant). */
  readonly pause?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigurationError(`${name} is required for a warm worker (sqs source)`);
  return value;
}

function abortablePause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The assignment source of a warm worker in a Fargate pool. Reads DAGY_WARM_QUEUE_URL,
 * DAGY_WARM_POOL, DAGY_WARM_POOL_TABLE and AWS_REGION; throws ConfigurationError naming a
 * missing one.
 */
export function createSqsAssignmentSource(
  env: Readonly<Record<string, string | undefined>>,
  clients: SqsAssignmentClients,
): AssignmentSource {
  const queueUrl = required(env, WARM_ENV.queueUrl);
  const pool = required(env, WARM_ENV.pool);
  try {
    validatePoolName(pool, WARM_ENV.pool);
  } catch (error) {
    throw new ConfigurationError(problemOf(error));
  }
  const pools = new WarmPoolRepository(clients.doc, required(env, WARM_ENV.poolTable));
  const region = env[PLATFORM_ENV.region]?.trim();
  const sqs = clients.sqs ?? new SQSClient(region ? { region } : {});
  const logger = (clients.logger ?? createJsonLogger({ component: "warm-worker" })).child({
    pool,
  });
  const pause = clients.pause ?? abortablePause;

  const remove = async (message: Message): Promise<void> => {
    try {
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    } catch (error) {
      // It becomes visible again after the visibility timeout; the claim makes that harmless.
      logger.warn("could not delete an assignment message", {
        message_id: message.MessageId,
        error: problemOf(error),
      });
    }
  };

  return {
    async next(signal: AbortSignal): Promise<Assignment | undefined> {
      while (!signal.aborted) {
        let messages: Message[];
        try {
          const out = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 1,
              WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
            }),
            { abortSignal: signal },
          );
          messages = out.Messages ?? [];
        } catch (error) {
          if (signal.aborted) break;
          logger.warn("could not receive assignments; retrying", { error: problemOf(error) });
          await pause(RECEIVE_ERROR_PAUSE_MS, signal);
          continue;
        }
        for (const message of messages) {
          const parsed = parseAssignmentBody(message.Body);
          if (typeof parsed === "string") {
            logger.warn("assignment refused: not run, deleted", {
              event_type: "assignment_refused",
              message_id: message.MessageId,
              problem: parsed,
            });
            await remove(message);
            continue;
          }
          logger.info("assignment received", {
            event_type: "assignment_received",
            run_id: parsed.runId,
            org_id: parsed.orgId,
            message_id: message.MessageId,
          });
          return { env: parsed.env, ack: () => remove(message) };
        }
      }
      return undefined;
    },
    async ready(): Promise<void> {
      try {
        await pools.addIdle(pool);
      } catch (error) {
        // Not counted: the launcher sends this pool fewer runs; the worker still waits.
        logger.warn("could not count this worker as idle", { error: problemOf(error) });
      }
    },
    async leave(): Promise<void> {
      try {
        await pools.removeIdle(pool);
      } catch (error) {
        logger.warn("could not take this worker off the idle count", {
          error: problemOf(error),
        });
      }
    },
  };
}
