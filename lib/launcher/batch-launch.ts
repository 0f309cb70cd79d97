/**
 * Batch launch: many launch requests over one `common` request, with bounded concurrency.
 * Each item goes through the same `launch` as a single request.
 */
import { errorCode, InvalidLaunchRequestError } from "../errors";
import { errorMessage } from "./errors";
import type { DagLaunchRequest, DagLaunchResult, SubmitOptions } from "./types";

export type BatchLaunchRequest = Partial<DagLaunchRequest> & { readonly flowName: string };
export type BatchLaunchCommon = Partial<Omit<DagLaunchRequest, "flowName">> & {
  readonly orgId: string;
};

export interface BatchLaunchOptions {
  /** Launches in flight at once. Default 10. */
  readonly concurrency?: number;
  /**
   * Milliseconds the whole batch may take (a batch inside one HTTP request must answer before
   * API Gateway's 30 s). No item starts after it; items in flight stop retrying ECS at it (a
   * run whose RunTask then fails is FAILED with the reason). Items never started are reported
   * with `errorCode: "unavailable"` and nothing written for them. Default: no budget.
   */
  readonly timeBudgetMs?: number;
  /** The budget's clock. Default Date.now. */
  readonly now?: () => number;
}

function mergedMap<K extends string, V>(
  key: K,
  common: Readonly<Record<string, V>> | undefined,
  own: Readonly<Record<string, V>> | undefined,
): Partial<Record<K, Record<string, V>>> {
  if (common === undefined && own === undefined) return {};
  return { [key]: { ...common, ...own } } as Record<K, Record<string, V>>;
}

/**
 * The request for item `index`: `common` overlaid with the item's own fields (parameters,
 * metadata and env maps merged, the item's entries winning), with child correlation id
 * `<parent>:<index>` and, from a common idempotency key, the key `<key>:<index>`.
 */
export function batchItemRequest(
  common: BatchLaunchCommon,
  own: BatchLaunchRequest,
  index: number,
  parentCorrelationId: string,
): DagLaunchRequest {
  return {
    ...common,
    ...own,
    correlationId: own.correlationId || `${parentCorrelationId}:${index}`,
    ...mergedMap("parameters", common.parameters, own.parameters),
    ...mergedMap("metadata", common.metadata, own.metadata),
    ...mergedMap("extraEnvVars", common.extraEnvVars, own.extraEnvVars),
    ...mergedMap("secretsEnv", common.secretsEnv, own.secretsEnv),
    // One key per item: a shared key would make every item replay the first.
    ...(own.idempotencyKey === undefined && common.idempotencyKey !== undefined
      ? { idempotencyKey: `${common.idempotencyKey}:${index}` }
      : {}),
  };
}

/**
 * Launches every item; results come back in request order. An item that fails, even
 * validation, gives a `success: false` result at its index; the others go on. The parent
 * correlation id is `common.correlationId`, or `newId()`.
 */
export async function launchBatch(
  launch: (request: DagLaunchRequest, options: SubmitOptions) => Promise<DagLaunchResult>,
  requests: readonly BatchLaunchRequest[],
  common: BatchLaunchCommon,
  options: BatchLaunchOptions & { readonly newId: () => string },
): Promise<DagLaunchResult[]> {
  const concurrency = options.concurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidLaunchRequestError("concurrency must be a positive integer", "concurrency");
  }
  const parent = common.correlationId || options.newId();
  const results = new Array<DagLaunchResult>(requests.length);
  const now = options.now ?? Date.now;
  const deadline = options.timeBudgetMs !== undefined ? now() + options.timeBudgetMs : undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < requests.length; index = next++) {
      const request = batchItemRequest(common, requests[index]!, index, parent);
      if (deadline !== undefined && now() >= deadline) {
        results[index] = {
          success: false,
          runId: "",
          flowName: String(request.flowName),
          correlationId: request.correlationId ?? "",
          errorMessage: `not launched: the batch used its ${Math.round((options.timeBudgetMs ?? 0) / 1000)} s time budget before this request started; nothing was recorded for it, send it again`,
          errorCode: "unavailable",
          metadata: request.metadata ?? {},
        };
        continue;
      }
      try {
        results[index] = await launch(request, deadline !== undefined ? { deadline } : {});
      } catch (error) {
        results[index] = {
          success: false,
          runId: "",
          flowName: String(request.flowName),
          correlationId: request.correlationId ?? "",
          errorMessage: errorMessage(error),
          errorCode: errorCode(error),
          metadata: request.metadata ?? {},
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  return results;
}
