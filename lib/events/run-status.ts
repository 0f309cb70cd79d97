/**
 * `Dagy Run Status Change`: one event on the account's default EventBridge bus each time a run
 * becomes terminal (SUCCEEDED, FAILED, CANCELLED), so users can route alerts and chain work
 * with their own rules:
 *
 *   { "source": ["dagy"], "detail-type": ["Dagy Run Status Change"], "detail": { "status": ["FAILED"] } }
 *
 * Emitted where runs become terminal — the worker's final write and reconciliation — by
 * wrapping their run store (`announceTerminalTransitions`), so the code that decides a status
 * does not change. Every announcement is also one JSON log line (`run_status_change`): the
 * local platform's only output, and in AWS what the worker log group's metric filters count.
 * Announcing never fails the write it follows: errors are logged.
 */
// Types only: the worker loads the EventBridge client (lib/events/eventbridge.ts) only when it
// announces there, so it stays off the worker's start-up path.
import type { PutEventsCommandInput, PutEventsCommandOutput } from "@aws-sdk/client-eventbridge";
import { emfLine, terminalStatusMetric, type MetricSink } from "../metrics";
import type { RunRecord } from "../persistence/records";
import type { TransitionOptions } from "../persistence/runs";
import type { RunStatus } from "../persistence/schema";

export const RUN_STATUS_SOURCE = "dagy";
export const RUN_STATUS_DETAIL_TYPE = "Dagy Run Status Change";
/** `event_type` of the log line each announcement writes. */
export const RUN_STATUS_LOG_EVENT = "run_status_change";

const TERMINAL: readonly RunStatus[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** The event's `detail` (snake_case, as every Dagy wire format). */
export interface RunStatusChange {
  readonly run_id: string;
  readonly flow_name: string;
  readonly flow_version: string;
  readonly org_id: string;
  readonly environment: string;
  readonly status: RunStatus;
  readonly error_message: string | null;
  /** From the worker's start (or the run's creation, if it never started) to completion. */
  readonly duration_ms: number | null;
  readonly created_at: string;
  readonly completed_at: string | null;
}

export function runStatusChange(run: RunRecord): RunStatusChange {
  const start = Date.parse(run.started_at ?? run.created_at);
  const end = run.completed_at ? Date.parse(run.completed_at) : NaN;
  return {
    run_id: run.run_id,
    flow_name: run.flow_name,
    flow_version: run.flow_version,
    org_id: run.org_id,
    environment: run.environment,
    status: run.status,
    error_message: run.error_message ?? null,
    duration_ms: Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) : null,
    created_at: run.created_at,
    completed_at: run.completed_at ?? null,
  };
}

/** EventBridge PutEvents (lib/events/eventbridge.ts in AWS; a recorder in tests). */
export type PutEvents = (input: PutEventsCommandInput) => Promise<PutEventsCommandOutput>;

export interface RunStatusLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface RunStatusAnnouncerOptions {
  readonly logger: RunStatusLogger;
  /** Puts the event on the default bus when given (AWS); without it the log line is all. */
  readonly putEvents?: PutEvents;
  /** Lambda only: EMF lines become the RunsSucceeded/Failed/Cancelled metrics. */
  readonly metrics?: MetricSink;
}

export type RunStatusAnnouncer = (run: RunRecord) => Promise<void>;

export function createRunStatusAnnouncer(options: RunStatusAnnouncerOptions): RunStatusAnnouncer {
  const { logger, putEvents, metrics } = options;
  return async (run) => {
    if (!TERMINAL.includes(run.status)) return;
    const detail = runStatusChange(run);
    logger.info(`run ${run.status.toLowerCase()}`, { event_type: RUN_STATUS_LOG_EVENT, ...detail });
    const metric = terminalStatusMetric(run.status);
    if (metrics && metric) {
      metrics(
        emfLine([{ name: metric, value: 1, unit: "Count" }], run.environment, {
          run_id: run.run_id,
        }),
      );
    }
    if (!putEvents) return;
    try {
      const out = await putEvents({
        Entries: [
          {
            Source: RUN_STATUS_SOURCE,
            DetailType: RUN_STATUS_DETAIL_TYPE,
            Detail: JSON.stringify(detail),
          },
        ],
      });
      if ((out.FailedEntryCount ?? 0) > 0) {
        logger.warn("run status event was not accepted", {
          event_type: "run_status_event_failed",
          run_id: run.run_id,
          error: out.Entries?.[0]?.ErrorMessage ?? out.Entries?.[0]?.ErrorCode,
        });
      }
    } catch (error) {
      logger.warn("could not put the run status event", {
        event_type: "run_status_event_failed",
        run_id: run.run_id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
}

/** What a run store must offer to be wrapped. */
export interface TransitioningRunStore {
  transition(
    runId: string,
    from: RunStatus | readonly RunStatus[],
    to: RunStatus,
    fields?: Partial<RunRecord>,
    options?: TransitionOptions,
  ): Promise<RunRecord | undefined>;
}

/**
 * The same store, whose `transition` announces each run it moves to a terminal status (only
 * when this write did it: a transition that lost its condition returns undefined).
 */
export function announceTerminalTransitions<S extends TransitioningRunStore>(
  store: S,
  announce: RunStatusAnnouncer,
): S {
  const wrapped = Object.create(store) as S;
  // Every argument passes through: the task condition (`options.taskArn`) is part of the write.
  wrapped.transition = async (runId, from, to, fields, options) => {
    const updated = await store.transition(runId, from, to, fields, options);
    if (updated && TERMINAL.includes(updated.status)) await announce(updated);
    return updated;
  };
  return wrapped;
}
