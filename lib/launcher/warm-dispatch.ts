/**
 * Warm dispatch on Fargate (issue #14): hands a run to an idle worker of a warm pool instead of
 * starting a task for it.
 *
 * A run goes warm when a configured pool fits it — the same cpu and memory as the pool's
 * workers, on-demand FARGATE, the default ephemeral storage, no secrets, and its first attempt —
 * AND a reservation in the pool table succeeds (`idle > 0`). Otherwise the caller launches it
 * cold, exactly as before. Then, in this order:
 *
 * 1. SendMessage to the fallback queue, `{"v":1,"run_id","org_id","pool"}` with DelaySeconds:
 *    if no worker has claimed the run when it becomes visible, the fallback consumer
 *    (lib/reconcile/warm-fallback.ts) launches it cold. Sent first, so a run is never handed
 *    out without its safety net.
 * 2. SendMessage to the pool's queue, `{"v":1,"run_id","org_id","env"}`: `env` is the run's
 *    worker environment, exactly the container environment a cold RunTask would send.
 *
 * If either send fails, the reservation is given back (`ADD idle :1`) and the run goes cold; a
 * fallback message already sent then finds the run on its cold task and does nothing.
 *
 * The result is `{ taskArn: "warm:<pool>:<runId>", startMode: "warm" }`: a placeholder the
 * launcher records as the attempt's task until the worker's claim writes its own ECS task ARN.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { WARM_ENV } from "../config/env";
import type { WarmPoolSpec } from "../config/warm-pools";
import { ConfigurationError } from "../errors";
import type { JsonLogger } from "../log";
import { WarmPoolRepository, warmTaskArn } from "../persistence/warm-pools";
import { DEFAULT_EPHEMERAL_STORAGE_GIB } from "./fargate";
import type { SubmitResult, WorkerLaunchSpec } from "./types";

export type { WarmPoolSpec } from "../config/warm-pools";

/** The assignment a warm worker receives (lib/worker/sqs-assignments.ts reads it). */
export interface WarmAssignmentMessage {
  readonly v: 1;
  readonly run_id: string;
  readonly org_id: string;
  readonly env: Readonly<Record<string, string>>;
}

/** What the fallback consumer receives once the delay has passed. */
export interface WarmFallbackMessage {
  readonly v: 1;
  readonly run_id: string;
  readonly org_id: string;
  readonly pool: string;
}

/**
 * Seconds before the fallback looks at a warm dispatch. A waiting worker receives a message
 * within its long poll (well under a second); 30 s leaves room for a slow claim.
 */
export const DEFAULT_FALLBACK_DELAY_SECONDS = 30;
/**
 * SQS's limit for a message's DelaySeconds: 0 to 900 (15 minutes). Source: SendMessage,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
 */
export const MAX_FALLBACK_DELAY_SECONDS = 900;

export interface WarmDispatchOptions {
  readonly pools: readonly WarmPoolSpec[];
  readonly fallbackQueueUrl: string;
  /** Default DEFAULT_FALLBACK_DELAY_SECONDS; whole seconds from 0 to 900. */
  readonly fallbackDelaySeconds?: number;
  readonly sqs: Pick<SQSClient, "send">;
  readonly poolStore: Pick<WarmPoolRepository, "reserve" | "addIdle">;
  readonly logger?: Pick<JsonLogger, "info" | "warn">;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class WarmDispatcher {
  private readonly delaySeconds: number;

  constructor(private readonly options: WarmDispatchOptions) {
    const delay = options.fallbackDelaySeconds ?? DEFAULT_FALLBACK_DELAY_SECONDS;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_FALLBACK_DELAY_SECONDS) {
      throw new RangeError(
        `fallbackDelaySeconds must be whole seconds from 0 to ${MAX_FALLBACK_DELAY_SECONDS} (SQS DelaySeconds), got ${delay}`,
      );
    }
    this.delaySeconds = delay;
  }

  /**
   * The pool that may run `spec`, or undefined when it must start cold:
   * - secrets: ECS injects `secrets` only when a task starts (from the task definition), so a
   *   worker that is already up cannot receive them; a run with secrets is always cold;
   * - a relaunch (attempt 2+): it follows an infrastructure failure, and a fresh task is the
   *   conservative answer (it also keeps the fallback's own relaunch cold);
   * - FARGATE_SPOT, a non-default ephemeral storage, or a size no pool has: the pools' tasks
   *   are on-demand, with the default storage, one size each.
   */
  poolFor(spec: WorkerLaunchSpec): WarmPoolSpec | undefined {
    if (Object.keys(spec.secretsEnv).length > 0) return undefined;
    if ((spec.attempt ?? 1) !== 1) return undefined;
    if (spec.capacityProvider !== "FARGATE") return undefined;
    if (spec.ephemeralStorageGib !== DEFAULT_EPHEMERAL_STORAGE_GIB) return undefined;
    return this.options.pools.find((p) => p.cpu === spec.cpu && p.memory === spec.memory);
  }

  /** Hands the run to a warm worker; undefined when the caller must launch it cold. */
  async dispatch(spec: WorkerLaunchSpec): Promise<SubmitResult | undefined> {
    const pool = this.poolFor(spec);
    if (!pool) return undefined;
    const log = { run_id: spec.runId, org_id: spec.orgId, pool: pool.pool };
    let reserved: boolean;
    try {
      reserved = await this.options.poolStore.reserve(pool.pool);
    } catch (error) {
      this.options.logger?.warn("warm pool reservation failed; launching cold", {
        ...log,
        error: errorMessage(error),
      });
      return undefined;
    }
    if (!reserved) {
      this.options.logger?.info("warm pool exhausted; launching cold", log);
      return undefined;
    }
    try {
      await this.options.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.options.fallbackQueueUrl,
          MessageBody: JSON.stringify(fallbackMessage(spec, pool.pool)),
          DelaySeconds: this.delaySeconds,
        }),
      );
      await this.options.sqs.send(
        new SendMessageCommand({
          QueueUrl: pool.queueUrl,
          MessageBody: JSON.stringify(assignmentMessage(spec)),
        }),
      );
    } catch (error) {
      await this.giveBack(pool.pool, spec.runId);
      this.options.logger?.warn("warm dispatch could not send; launching cold", {
        ...log,
        error: errorMessage(error),
      });
      return undefined;
    }
    return { taskArn: warmTaskArn(pool.pool, spec.runId), startMode: "warm" };
  }

  private async giveBack(pool: string, runId: string): Promise<void> {
    try {
      await this.options.poolStore.addIdle(pool);
    } catch (error) {
      // The count is one low until a worker re-adds itself: fewer warm starts, never a lost run.
      this.options.logger?.warn("could not give back a warm reservation", {
        run_id: runId,
        pool,
        error: errorMessage(error),
      });
    }
  }
}

export function assignmentMessage(spec: WorkerLaunchSpec): WarmAssignmentMessage {
  return { v: 1, run_id: spec.runId, org_id: spec.orgId, env: { ...spec.environment } };
}

export function fallbackMessage(spec: WorkerLaunchSpec, pool: string): WarmFallbackMessage {
  return { v: 1, run_id: spec.runId, org_id: spec.orgId, pool };
}

/** The warm side of a runtime configuration (RuntimeConfig.warm). */
export interface WarmConfig {
  readonly pools: readonly WarmPoolSpec[];
  readonly poolTable?: string;
  readonly fallbackQueueUrl?: string;
}

/**
 * The dispatcher a launcher uses, or undefined when no pool is configured (every launch cold).
 * parseRuntimeConfig already refused pools without their table and fallback queue.
 */
export function warmDispatcherFromConfig(
  warm: WarmConfig,
  clients: { readonly doc: DynamoDBDocumentClient; readonly sqs?: Pick<SQSClient, "send"> },
  logger?: Pick<JsonLogger, "info" | "warn">,
): WarmDispatcher | undefined {
  if (warm.pools.length === 0) return undefined;
  if (!clients.sqs || !warm.poolTable || !warm.fallbackQueueUrl) {
    throw new ConfigurationError(
      `${WARM_ENV.pools} names warm pools: ${WARM_ENV.poolTable}, ${WARM_ENV.fallbackQueueUrl} and an SQS client are needed`,
    );
  }
  return new WarmDispatcher({
    pools: warm.pools,
    fallbackQueueUrl: warm.fallbackQueueUrl,
    sqs: clients.sqs,
    poolStore: new WarmPoolRepository(clients.doc, warm.poolTable),
    ...(logger ? { logger } : {}),
  });
}
