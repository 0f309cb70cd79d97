/**
 * Idempotency-Key handling for launches, over the idempotency repository: claim the key with
 * the request's hash before anything is written, replay the first launch's result, free the
 * key when a launch started nothing, and mark it COMPLETED once the worker was started.
 */
import type { JsonLogger } from "../log";
import { errorMessage } from "./errors";
import type { LauncherPersistence } from "./launcher-options";
import { launchRequestHash } from "./request-hash";
import { replayedResult } from "./run-record";
import type { DagLaunchRequest, DagLaunchResult } from "./types";

export class LaunchIdempotency {
  constructor(
    private readonly persistence: Pick<LauncherPersistence, "idempotency" | "runs">,
    private readonly logger: Pick<JsonLogger, "warn">,
  ) {}

  /**
   * Claims the request's key for `runId`. Undefined: this launch goes ahead (it holds the key,
   * or has none). Otherwise the first launch's result, to return as is.
   *
   * @throws ConflictError when the key was used for a different request
   */
  async claim(
    request: DagLaunchRequest,
    runId: string,
    now: Date,
  ): Promise<DagLaunchResult | undefined> {
    if (request.idempotencyKey === undefined) return undefined;
    const claim = await this.persistence.idempotency.claim(
      request.orgId,
      request.idempotencyKey,
      runId,
      { now, payloadHash: launchRequestHash(request) },
    );
    if (claim.claimed) return undefined;
    return replayedResult(await this.persistence.runs.get(claim.runId), claim.runId, request);
  }

  /** The worker was started: the run record answers replays from now on. */
  async complete(request: DagLaunchRequest, runId: string): Promise<void> {
    if (request.idempotencyKey === undefined) return;
    try {
      await this.persistence.idempotency.complete(request.orgId, request.idempotencyKey, runId);
    } catch (error) {
      // Replays read the run record either way; the status is bookkeeping.
      this.logger.warn("could not complete the idempotency record", {
        run_id: runId,
        error: errorMessage(error),
      });
    }
  }

  /** A launch that started nothing frees its key, so the caller can retry with it. */
  async release(request: DagLaunchRequest, runId: string): Promise<void> {
    if (request.idempotencyKey === undefined) return;
    try {
      await this.persistence.idempotency.release(request.orgId, request.idempotencyKey, runId);
    } catch (error) {
      this.logger.warn("could not release the idempotency key", {
        run_id: runId,
        error: errorMessage(error),
      });
    }
  }
}
