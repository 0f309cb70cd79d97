/**
 * The console's only way to the platform: same-origin fetch to the Dagy HTTP API. Every POST and
 * DELETE carries `Content-Type: application/json` (the API refuses state changes without it).
 */

/** The API answered with an error status; `message` is the API's own `error` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Readonly<Record<string, string | undefined>>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text === "" ? path : `${path}?${text}`;
}

export async function apiRequest<T>(
  method: "GET" | "POST" | "DELETE",
  path: string,
  options: { readonly query?: Query; readonly body?: unknown } = {},
): Promise<T> {
  const init: RequestInit = { method, headers: { accept: "application/json" } };
  if (method !== "GET") {
    init.headers = { accept: "application/json", "content-type": "application/json" };
    init.body = JSON.stringify(options.body ?? {});
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), init);
  } catch {
    throw new ApiError(0, "The platform cannot be reached; is it still running?");
  }
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const error =
      typeof body === "object" && body !== null && "error" in body
        ? String(body.error)
        : `HTTP ${response.status}`;
    throw new ApiError(response.status, error);
  }
  return body as T;
}

export const apiGet = <T>(path: string, query?: Query) =>
  apiRequest<T>("GET", path, query ? { query } : {});

/** Path segment encoding for names and ids. */
export const seg = (value: string) => encodeURIComponent(value);

export type RunStatus = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export type TaskStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";

export const RUN_STATUSES: readonly RunStatus[] = [
  "QUEUED",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
  "CANCELLED",
];

export const isTerminal = (status: string) =>
  status === "SUCCEEDED" || status === "FAILED" || status === "CANCELLED";

/** GET /runs items (lib/api/shape.ts runSummary). */
export interface RunSummary {
  readonly run_id: string;
  readonly flow_name: string;
  readonly status: RunStatus;
  readonly started_at: string | null;
  readonly completed_at: string | null;
  readonly error_message: string | null;
  readonly flow_version: string;
  readonly org_id: string;
  readonly environment: string;
  readonly correlation_id: string;
  readonly trigger_source: string;
  readonly triggered_by?: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly task_arn: string | null;
  /** Child runs of an isolated map: the parent run, its mapped task and the items (`3-5`). */
  readonly parent_run_id?: string | null;
  readonly map_task?: string | null;
  readonly map_items?: string | null;
}

/** A mapped task's item counts (lib/sdk/types.ts MapSummary): they add up to `total`. */
export interface MapSummary {
  readonly total: number;
  readonly pending: number;
  readonly running: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly skipped: number;
  readonly cancelled: number;
  /** The first items that failed for good (at most 100), errors cut short. */
  readonly failures: ReadonlyArray<{
    readonly index: number;
    readonly attempts: number;
    readonly error: string;
  }>;
}

export interface TaskState {
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly started_at?: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
  readonly error?: string;
  /** Set for a mapped task once its list is known. */
  readonly map?: MapSummary;
}

/** GET /runs/{id}: the summary and everything else. Optional fields appear as the API grows. */
export interface RunDetail extends RunSummary {
  readonly deployment_name: string | null;
  readonly task_states: Readonly<Record<string, TaskState>>;
  readonly cancel_requested: boolean;
  readonly exit_code: number | null;
  readonly stop_reason: string | null;
  readonly traceback_uri: string | null;
  readonly parameters?: Readonly<Record<string, unknown>> | null;
  readonly parameters_uri?: string | null;
  readonly secret_names?: readonly string[];
  readonly workload_profile?: string | null;
  readonly cpu?: string | null;
  readonly memory?: string | null;
  readonly ephemeral_storage_gib?: number | null;
  readonly capacity_provider?: string | null;
  readonly task_states_truncated?: boolean;
  /** Actions the API offers on this run, e.g. `["rerun"]`; re-run shows only when listed. */
  readonly actions?: readonly string[];
  readonly logs?: { readonly console_url: string | null } | null;
}

export interface RunPage {
  readonly runs: readonly RunSummary[];
  readonly next_token: string | null;
}

export interface LogEvent {
  readonly timestamp?: string;
  readonly level?: string;
  readonly event_type?: string;
  readonly message?: string;
  readonly msg?: string;
  readonly task_id?: string;
  readonly attempt?: number;
  readonly duration_ms?: number;
  readonly error?: string;
  /** Events of one item of a mapped task: the mapped task's id and the item's position. */
  readonly map_task?: string;
  readonly map_index?: number;
  readonly [key: string]: unknown;
}

export interface LogPage {
  readonly run_id: string;
  readonly events: readonly LogEvent[];
  readonly next_position: string;
  readonly complete: boolean;
}

export interface ParameterSpec {
  readonly type?: "string" | "number" | "integer" | "boolean" | "object" | "array";
  readonly description?: string;
  readonly default?: unknown;
  readonly required: boolean;
}

export interface TaskSpec {
  readonly id: string;
  readonly task: string;
  readonly upstream: readonly string[];
  readonly options?: { readonly retries?: number; readonly timeout_ms?: number };
  /** Set for a mapped task (`task.map(list)`); `isolate`: its items run as child runs. */
  readonly map?: { readonly isolate?: boolean; readonly items_per_child?: number };
}

export interface FlowSpec {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly parameters: Readonly<Record<string, ParameterSpec>>;
  readonly tasks: readonly TaskSpec[];
  readonly edges?: ReadonlyArray<readonly [string, string]>;
}

export interface FlowVersionDetail {
  readonly flow_name: string;
  readonly version: string;
  readonly flow_spec: FlowSpec;
  readonly registered_at?: string;
}

export interface FlowSummary {
  readonly flow_name: string;
  readonly latest_version: string | null;
  readonly versions: readonly string[];
}

export interface FlowVersion {
  readonly flow_name: string;
  readonly flow_version: string;
  readonly registered_at: string;
  readonly is_semver: boolean;
  readonly description: string | null;
}

export interface ScheduleBody {
  readonly name: string;
  readonly org_id: string;
  readonly flow_name: string;
  readonly expression: string;
  readonly time_zone: string;
  readonly enabled: boolean;
  readonly description: string | null;
  readonly launch: Readonly<Record<string, unknown>>;
  readonly next_fire_time?: string | null;
  readonly last_firing?: {
    readonly run_id?: string | null;
    readonly status?: string | null;
    readonly fired_at?: string | null;
  } | null;
}

/** Fetches a flow version's spec; undefined when this API does not serve specs (yet). */
export async function fetchFlowSpec(
  org: string,
  flow: string,
  version: string,
): Promise<FlowVersionDetail | undefined> {
  try {
    return await apiGet<FlowVersionDetail>(`/flows/${seg(flow)}/versions/${seg(version)}`, {
      org_id: org,
    });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      return undefined;
    }
    throw error;
  }
}
