/**
 * The one retry policy: exponential backoff with full jitter, and the classification of
 * retryable AWS errors. ECS launches, the worker's final status write and DynamoDB batch
 * reads all retry through it.
 */

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * Delay before retry number `retry` (1 for the first retry): uniformly random up to
 * `base * 2^(retry-1)`, capped — "full jitter", which spreads a thundering herd of launchers
 * that were throttled together.
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

interface AwsErrorShape {
  name?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  code?: unknown;
}

const RETRYABLE_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ServerException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalFailure",
  "InternalServerError",
  "TimeoutError",
  "RequestTimeout",
]);

const RETRYABLE_NETWORK_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]);

/**
 * True for throttling, server-side and transient network errors. ECS reports some throttling
 * as `InvalidParameterException: Rate exceeded` (and `ClientException: Rate exceeded`), so the
 * message counts as much as the name.
 */
export function isRetryableAwsError(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  const e = error as AwsErrorShape;
  const name = typeof e.name === "string" ? e.name : "";
  const message = typeof e.message === "string" ? e.message : "";
  const status = e.$metadata?.httpStatusCode;
  if (RETRYABLE_NAMES.has(name)) return true;
  if (/rate exceeded/i.test(message)) return true;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.$retryable !== undefined) return true;
  return typeof e.code === "string" && RETRYABLE_NETWORK_CODES.has(e.code);
}

/**
 * Runs `call` until it succeeds, a non-retryable error occurs, or attempts run out (the last
 * error is thrown). `onRetry` sees each retried error, for logging and counting.
 */
export async function withRetries<T>(
  call: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  opts: {
    readonly sleep: Sleep;
    readonly random: () => number;
    readonly isRetryable?: (error: unknown) => boolean;
    readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
    /** Epoch ms: no retry is started that would wait past it (the error is thrown instead). */
    readonly deadline?: number;
    readonly now?: () => number;
  },
): Promise<T> {
  const isRetryable = opts.isRetryable ?? isRetryableAwsError;
  const now = opts.now ?? Date.now;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isRetryable(error)) throw error;
      const delay = backoffDelay(policy, attempt, opts.random);
      if (opts.deadline !== undefined && now() + delay > opts.deadline) throw error;
      opts.onRetry?.(error, attempt, delay);
      await opts.sleep(delay);
    }
  }
}
