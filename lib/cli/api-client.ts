/**
 * The lifecycle commands' view of a Dagy API. One client, two transports:
 * - HTTP (`fetch`) to the local platform or any unsigned Dagy API;
 * - in-process: the very same `lib/api` handler the deployed Lambda runs, built with the
 *   caller's AWS credentials and the stack's `DAGY_*` configuration (see `aws-target.ts`).
 * Either way a command sends the same requests and reads the same bodies.
 */
import { DagyError } from "../errors";
import type { Json } from "../sdk/types";

/** A request as the client sends it. */
export interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path with parameters already encoded, e.g. `/runs/abc`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
}

export type ApiTransport = (request: ApiRequest) => Promise<ApiReply>;

/** The platform answered with an error status: the message is the API's own `error` text. */
export class ApiError extends DagyError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The platform could not be reached at all. */
export class PlatformUnreachableError extends DagyError {}

export function queryString(query: ApiRequest["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(key, value);
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** HTTP transport over global fetch; connection failures name the URL and how to fix them. */
export function httpTransport(baseUrl: string, hint: string): ApiTransport {
  return async (request) => {
    const url = `${baseUrl}${request.path}${queryString(request.query)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers: {
          ...(request.body !== undefined ? { "content-type": "application/json" } : {}),
          ...request.headers,
        },
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new PlatformUnreachableError(
        `cannot reach the Dagy API at ${baseUrl} (${reason}); ${hint}`,
      );
    }
    const text = await response.text();
    let body: unknown = text;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): keep the text for the message.
      }
    }
    return { status: response.status, body };
  };
}

function errorText(body: unknown): string {
  if (body !== null && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.error === "string") return record.error;
    if (typeof record.message === "string") return record.message;
  }
  if (typeof body === "string" && body !== "") return body.slice(0, 300);
  return "no details";
}

export interface LaunchReplyBody {
  readonly run_id: string;
  readonly task_arn: string | null;
  readonly success: boolean;
  readonly error?: string;
}

export interface RunBody {
  readonly run_id: string;
  readonly flow_name: string;
  readonly status: string;
  readonly started_at: string | null;
  readonly completed_at: string | null;
  readonly error_message: string | null;
  readonly flow_version?: string;
  readonly org_id?: string;
  readonly environment?: string;
  readonly created_at?: string;
  readonly updated_at?: string;
  readonly task_arn?: string | null;
  readonly trigger_source?: string;
  readonly correlation_id?: string;
  readonly task_states?: Record<
    string,
    { status: string; attempts: number; duration_ms?: number; error?: string }
  >;
  readonly exit_code?: number | null;
  readonly stop_reason?: string | null;
  readonly traceback_uri?: string | null;
  readonly logs?: { log_group: string | null; log_stream: string | null };
}

export interface RunListBody {
  readonly runs: RunBody[];
  readonly next_token?: string | null;
}

export interface ScheduleBody {
  readonly name: string;
  readonly org_id: string;
  readonly flow_name: string;
  readonly expression: string;
  readonly time_zone: string;
  readonly enabled: boolean;
  readonly description: string | null;
  readonly launch: Record<string, Json>;
  readonly resource_name: string;
  readonly kind: string;
}

export interface ListRunsQuery {
  readonly orgId?: string;
  readonly flowName?: string;
  readonly status?: string;
  readonly limit?: number;
  readonly nextToken?: string;
}

export class ApiClient {
  constructor(readonly transport: ApiTransport) {}

  /** Sends a request; a non-2xx answer throws ApiError with the API's message. */
  async send<T>(request: ApiRequest): Promise<T> {
    const reply = await this.transport(request);
    if (reply.status < 200 || reply.status >= 300) {
      throw new ApiError(reply.status, errorText(reply.body));
    }
    return reply.body as T;
  }

  /** POST /flows/{flowName}/runs with a snake_case launch body. */
  async launch(
    flowName: string,
    body: Record<string, Json>,
    options: { readonly idempotencyKey?: string } = {},
  ): Promise<LaunchReplyBody> {
    // A launch the platform could not submit is a 5xx whose body still says why.
    const reply = await this.transport({
      method: "POST",
      path: `/flows/${encodeURIComponent(flowName)}/runs`,
      body,
      ...(options.idempotencyKey !== undefined
        ? { headers: { "idempotency-key": options.idempotencyKey } }
        : {}),
    });
    const result = reply.body as Partial<LaunchReplyBody> | undefined;
    if (result && typeof result.run_id === "string" && typeof result.success === "boolean") {
      return result as LaunchReplyBody;
    }
    throw new ApiError(reply.status, errorText(reply.body));
  }

  /** GET /runs/{runId}; undefined when the run does not exist. */
  async getRun(runId: string, orgId?: string): Promise<RunBody | undefined> {
    const reply = await this.transport({
      method: "GET",
      path: `/runs/${encodeURIComponent(runId)}`,
      query: { org_id: orgId },
    });
    if (reply.status === 404) return undefined;
    if (reply.status < 200 || reply.status >= 300) {
      throw new ApiError(reply.status, errorText(reply.body));
    }
    return reply.body as RunBody;
  }

  listRuns(query: ListRunsQuery): Promise<RunListBody> {
    return this.send<RunListBody>({
      method: "GET",
      path: "/runs",
      query: {
        org_id: query.orgId,
        flow_name: query.flowName,
        status: query.status,
        limit: query.limit === undefined ? undefined : String(query.limit),
        next_token: query.nextToken,
      },
    });
  }

  cancelRun(runId: string, orgId?: string, reason?: string): Promise<Record<string, unknown>> {
    return this.send({
      method: "POST",
      path: `/runs/${encodeURIComponent(runId)}/cancel`,
      body: {
        ...(orgId !== undefined ? { org_id: orgId } : {}),
        ...(reason !== undefined ? { reason } : {}),
      },
    });
  }

  async listSchedules(orgId: string): Promise<ScheduleBody[]> {
    const body = await this.send<{ schedules: ScheduleBody[] }>({
      method: "GET",
      path: "/schedules",
      query: { org_id: orgId },
    });
    return body.schedules;
  }

  createSchedule(body: Record<string, Json>): Promise<ScheduleBody> {
    return this.send<ScheduleBody>({ method: "POST", path: "/schedules", body });
  }

  async deleteSchedule(orgId: string, name: string): Promise<void> {
    await this.send({
      method: "DELETE",
      path: `/schedules/${encodeURIComponent(name)}`,
      query: { org_id: orgId },
    });
  }
}
