/**
 * Succeeded tasks' outputs, kept so a relaunched attempt (after a Spot interruption or running
 * out of memory) or a re-run from the failure reads them back instead of running the tasks
 * again. Small outputs go inline into the run record (`task_outputs`), larger ones to S3 under
 * the run's prefix (`run-outputs/<org>/<run>/<task>.json` in the artifacts bucket); past
 * MAX_KEPT_OUTPUT_BYTES, or when redaction changed the text (it held a secret's value: a
 * redacted output would feed wrong data downstream), nothing is kept and the task runs again
 * on resume. Writes are batched like task states; a failure is reported, never fatal.
 */
import type { TaskOutputRef } from "../persistence/records";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri, parseS3Uri } from "../storage/s3-uri";

/** Outputs up to this many bytes of JSON live in the run record. */
export const INLINE_OUTPUT_MAX_BYTES = 1024;
/** Larger outputs up to this size go to S3; beyond, they are not kept. */
export const MAX_KEPT_OUTPUT_BYTES = 10 * 1024 * 1024;
/** Characters of an output's JSON shown by the API and console. */
export const OUTPUT_PREVIEW_CHARS = 200;

export function runOutputKey(orgId: string, runId: string, taskId: string): string {
  return `run-outputs/${orgId}/${runId}/${encodeURIComponent(taskId)}.json`;
}

export interface TaskOutputSink {
  recordTaskOutputs(runId: string, outputs: Record<string, TaskOutputRef>): Promise<unknown>;
}

export interface TaskOutputKeeperOptions {
  readonly runId: string;
  readonly orgId: string;
  /** Bucket of large outputs (the artifacts bucket). */
  readonly bucket: string;
  readonly sink: TaskOutputSink;
  readonly store: Pick<ObjectStore, "put">;
  readonly redact: (text: string) => string;
  /** Default 1000 ms. */
  readonly flushIntervalMs?: number;
  readonly onError?: (message: string, error: unknown) => void;
}

function preview(json: string): string {
  return json.length > OUTPUT_PREVIEW_CHARS ? `${json.slice(0, OUTPUT_PREVIEW_CHARS)}…` : json;
}

export class TaskOutputKeeper {
  private pending: Record<string, TaskOutputRef> = {};
  private readonly uploads = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private wrote = false;

  constructor(private readonly options: TaskOutputKeeperOptions) {}

  /** True once a write of outputs succeeded (the run record has a `task_outputs` map). */
  get hasWritten(): boolean {
    return this.wrote;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** The executor's onTaskOutput: decides where the output goes and queues its record. */
  keep(taskId: string, output: unknown): void {
    let json: string | undefined;
    try {
      json = JSON.stringify(output);
    } catch (error) {
      this.pending[taskId] = {
        bytes: 0,
        not_kept: `not JSON: ${error instanceof Error ? error.message : String(error)}`,
      };
      return;
    }
    if (json === undefined) {
      // undefined (or a function): nothing to keep, and nothing to feed downstream either.
      this.pending[taskId] = { bytes: 0 };
      return;
    }
    const redacted = this.options.redact(json);
    const bytes = Buffer.byteLength(json, "utf8");
    if (redacted !== json) {
      this.pending[taskId] = {
        bytes,
        preview: preview(redacted),
        not_kept: "contains a secret value",
      };
      return;
    }
    if (bytes <= INLINE_OUTPUT_MAX_BYTES) {
      this.pending[taskId] = { json, bytes };
      return;
    }
    if (bytes > MAX_KEPT_OUTPUT_BYTES) {
      this.pending[taskId] = {
        bytes,
        preview: preview(json),
        not_kept: `larger than ${MAX_KEPT_OUTPUT_BYTES} bytes`,
      };
      return;
    }
    const uri = formatS3Uri(
      this.options.bucket,
      runOutputKey(this.options.orgId, this.options.runId, taskId),
    );
    const upload = this.options.store
      .put(uri, json, { contentType: "application/json" })
      .then(
        () => {
          this.pending[taskId] = { uri, bytes, preview: preview(json) };
        },
        (error: unknown) => {
          this.options.onError?.(`could not store the output of task ${taskId}`, error);
          this.pending[taskId] = { bytes, preview: preview(json), not_kept: "upload failed" };
        },
      )
      .finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }

  /** Writes what was queued, after the uploads under way. Never rejects. */
  flush(): Promise<void> {
    this.inFlight = this.inFlight.then(() => this.write());
    return this.inFlight;
  }

  /**
   * The records not yet written, once uploads and a write under way have settled: for a caller
   * that writes them itself (the worker's last status write). `written` then marks them done;
   * until then they stay queued for the next flush.
   */
  async unwritten(): Promise<Record<string, TaskOutputRef>> {
    await this.inFlight;
    await Promise.all([...this.uploads]);
    return { ...this.pending };
  }

  /** These tasks' records were written by someone else (see `unwritten`). */
  written(taskIds: readonly string[]): void {
    for (const id of taskIds) delete this.pending[id];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    await Promise.all([...this.uploads]);
    const batch = this.pending;
    if (Object.keys(batch).length === 0) return;
    this.pending = {};
    try {
      await this.options.sink.recordTaskOutputs(this.options.runId, batch);
      this.wrote = true;
    } catch (error) {
      // Retried with the next flush, unless a newer record for the task came in.
      this.pending = { ...batch, ...this.pending };
      this.options.onError?.("could not record task outputs", error);
    }
  }
}

/**
 * The outputs a resumed run can take over: succeeded tasks whose output was kept, read back
 * (inline, or from S3). A task whose output cannot be read is simply run again.
 */
export async function readKeptOutputs(
  run: {
    readonly task_states?: Record<string, { status: string }>;
    readonly task_outputs?: Record<string, TaskOutputRef>;
  },
  store: Pick<ObjectStore, "get">,
  onError?: (taskId: string, error: unknown) => void,
): Promise<Record<string, unknown>> {
  const completed: Record<string, unknown> = {};
  for (const [taskId, ref] of Object.entries(run.task_outputs ?? {})) {
    if (run.task_states?.[taskId]?.status !== "SUCCEEDED" || ref.not_kept !== undefined) continue;
    try {
      if (ref.json !== undefined) completed[taskId] = JSON.parse(ref.json) as unknown;
      else if (ref.uri !== undefined) {
        parseS3Uri(ref.uri); // a malformed URI is caught here, not deep in the client
        completed[taskId] = JSON.parse((await store.get(ref.uri)).toString("utf8")) as unknown;
      } else completed[taskId] = undefined;
    } catch (error) {
      onError?.(taskId, error);
    }
  }
  return completed;
}
