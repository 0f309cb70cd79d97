/**
 * The CLI's view of a Dagy API: one client over HTTP, whatever the target. The local platform
 * and plain `--url` APIs take the requests as they are; a deployed stack's API takes them
 * SigV4-signed (IAM mode) or with a bearer token (JWT mode) — see `request-signing.ts`.
 */
import { DagyError, ERROR_CODES, type ErrorCode } from "../errors";
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

/**
 * The platform answered with an error status: the message is the API's own `error` text, the
 * code its stable `code` (`flow_not_found`, `invalid_request`, `conflict`, ...), or, for a reply
 * without one, the code its status stands for.
 */
export class ApiError extends DagyError {
  override readonly code: ErrorCode;
  constructor(
    readonly status: number,
    message: string,
    wireCode?: string,
  ) {
    super(message);
    this.code =
      wireCode !== undefined && (ERROR_CODES as readonly string[]).includes(wireCode)
        ? (wireCode as ErrorCode)
        : (CODE_FOR_STATUS[status] ?? (status >= 500 ? "internal" : "invalid_request"));
    this.coded = wireCode !== undefined;
  }
  /**
   * The reply carried a Dagy `code`. Replies without one come from API Gateway (its IAM or JWT
   * authorizer), a proxy, or the guide's own `{"error":"Run not found"}`.
   */
  readonly coded: boolean;
}

/** For replies without a `code` (API Gateway's own refusals, proxies). */
const CODE_FOR_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "artifact_invalid",
  502: "launch_failed",
  503: "unavailable",
};

/** The platform could not be reached at all. */
export class PlatformUnreachableError extends DagyError {}

/**
 * `?a=1&b=x%20y`: RFC 3986 percent-encoding (spaces as `%20`, never `+`), which SigV4's
 * canonical query and every server read the same way.
 */
export function queryString(query: ApiRequest["query"]): string {
  const pairs = Object.entries(query ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
}

/** A request about to be sent: what a signature covers. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Returns the headers to send: the request's own plus whatever proves the caller. */
export type RequestAuthorizer = (request: OutgoingRequest) => Promise<Record<string, string>>;

/** Sends the caller's token as API Gateway's JWT authorizer expects it. */
export function bearerAuthorizer(token: string): RequestAuthorizer {
  return (request) => Promise.resolve({ ...request.headers, authorization: `Bearer ${token}` });
}

export interface HttpTransportOptions {
  /** Appended to "cannot reach <url> (<reason>)": how to fix it. */
  readonly hint: string;
  /** Adds the headers that prove the caller (signature, token). Default: none. */
  readonly authorize?: RequestAuthorizer;
}

/** HTTP transport over global fetch; connection failures name the URL and how to fix them. */
export function httpTransport(baseUrl: string, options: HttpTransportOptions): ApiTransport {
  return async (request) => {
    const url = new URL(`${baseUrl}${request.path}${queryString(request.query)}`);
    const body = request.body !== undefined ? JSON.stringify(request.body) : undefined;
    let headers: Record<string, string> = {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...Object.fromEntries(
        Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      ),
    };
    if (options.authorize !== undefined) {
      headers = await options.authorize({
        method: request.method,
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    } catch (error) {
      throw unreachable(baseUrl, error, options.hint);
    }
    return { status: response.status, body: await readBody(response) };
  };
}

function unreachable(baseUrl: string, error: unknown, hint: string): PlatformUnreachableError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return new PlatformUnreachableError(`cannot reach ${baseUrl} (${reason}); ${hint}`);
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === "") return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON (a proxy's or S3's error page): keep the text for the message.
    return text;
  }
}

function errorText(body: unknown): string {
  if (body !== null && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.error === "string") return record.error;
    // API Gateway's own refusals: {"message":"Forbidden"}, {"message":"The request signature ..."}
    if (typeof record.message === "string") return record.message;
  }
  if (typeof body === "string" && body !== "") return body.slice(0, 300);
  return "no details";
}

function errorCode(body: unknown): string | undefined {
  if (body !== null && typeof body === "object") {
    const code = (body as Record<string, unknown>).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * What to do about a refusal that came from the API's gateway rather than from Dagy (no
 * `code`): API Gateway's IAM and JWT authorizers answer 403 and 401 themselves.
 */
export function gatewayHint(error: ApiError): string | undefined {
  if (error.coded) return undefined;
  if (error.status === 403) {
    return (
      "the API refused the request: in IAM mode your AWS identity (AWS_PROFILE, SSO, AWS_ACCESS_KEY_ID, ...) " +
      "needs execute-api:Invoke on this API; in JWT mode the token lacks what the authorizer requires"
    );
  }
  if (error.status === 401) {
    return "the API refused the bearer token: pass a valid one with --token or DAGY_TOKEN";
  }
  return undefined;
}

/** The ApiError an error reply stands for. */
export function apiErrorOf(reply: ApiReply): ApiError {
  return new ApiError(reply.status, errorText(reply.body), errorCode(reply.body));
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
  /** Next firing (ISO), null when disabled. */
  readonly next_fire_at?: string | null;
  /** The newest run a firing launched. */
  readonly last_firing?: {
    readonly run_id: string;
    readonly status: string;
    readonly at: string;
    readonly error: string | null;
  } | null;
}

/** What an upload route returns: where to PUT the bytes, with exactly these headers. */
export interface UploadTicket {
  readonly upload_id: string;
  readonly upload_url: string;
  /** Includes `x-amz-checksum-sha256`: S3 refuses bytes with another digest. */
  readonly upload_headers: Readonly<Record<string, string>>;
  readonly expires_at?: string;
}

/** What the CLI states about bytes it is about to upload. */
export interface UploadDescription {
  /** Lower-case hex. */
  readonly sha256: string;
  readonly size: number;
}

export interface FlowVersionBody {
  readonly flow_name: string;
  readonly flow_version: string;
  readonly registered_at: string;
  readonly artifact_s3_uri: string;
  /** Hex SHA-256 of the artifact zip. */
  readonly artifact_sha256: string;
  readonly is_semver: boolean;
  readonly description: string | null;
}

export interface DepPackageBody {
  readonly name: string;
  readonly org_id: string;
  readonly version: string;
  readonly package_s3_uri: string;
  readonly sha256: string | null;
  readonly shared_with: string[];
  readonly created_at: string;
}

export interface DeploymentBody {
  readonly name: string;
  readonly org_id: string;
  readonly environment: string;
  /** Package names. */
  readonly packages: string[];
  readonly updated_at: string;
}

export interface RunLogsBody {
  readonly run_id: string;
  /** One parsed JSON log line each (a line that is not JSON arrives as a string). */
  readonly events: unknown[];
  /** Opaque: pass it back to read on from here. */
  readonly next_position: string | null;
  /** The run is over and every line has been returned. */
  readonly complete: boolean;
}

export interface TracebackBody {
  readonly run_id: string;
  readonly traceback: string;
}

export interface ListRunsQuery {
  readonly orgId?: string;
  readonly flowName?: string;
  readonly status?: string;
  /** Only this run's children (an isolated map's child runs), in launch order. */
  readonly parentRunId?: string;
  readonly limit?: number;
  readonly nextToken?: string;
}

export class ApiClient {
  constructor(readonly transport: ApiTransport) {}

  /** Sends a request; a non-2xx answer throws ApiError with the API's message. */
  async send<T>(request: ApiRequest): Promise<T> {
    const reply = await this.transport(request);
    if (reply.status < 200 || reply.status >= 300) {
      throw apiErrorOf(reply);
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
    throw apiErrorOf(reply);
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
      throw apiErrorOf(reply);
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
        parent_run_id: query.parentRunId,
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

  // Flow versions: the artifact goes straight to S3 through a presigned PUT whose SHA-256 S3
  // itself checks; the commit call then has the API read it back, verify it and record it.

  /** GET /flows/{flowName}/versions */
  async listFlowVersions(flowName: string, orgId: string): Promise<FlowVersionBody[]> {
    const reply = await this.transport({
      method: "GET",
      path: `/flows/${encodeURIComponent(flowName)}/versions`,
      query: { org_id: orgId },
    });
    // An unknown flow has no versions.
    if (reply.status === 404) return [];
    if (reply.status < 200 || reply.status >= 300) throw apiErrorOf(reply);
    const body = reply.body as { versions?: FlowVersionBody[] };
    return body.versions ?? [];
  }

  /** POST /flows/{flowName}/versions/uploads */
  createFlowUpload(
    flowName: string,
    orgId: string,
    version: string,
    upload: UploadDescription,
  ): Promise<UploadTicket> {
    return this.send<UploadTicket>({
      method: "POST",
      path: `/flows/${encodeURIComponent(flowName)}/versions/uploads`,
      body: { org_id: orgId, version, sha256: upload.sha256, size: upload.size },
    });
  }

  /** POST /flows/{flowName}/versions: records the uploaded artifact as that version. */
  commitFlowVersion(
    flowName: string,
    body: { org_id: string; version: string; upload_id: string; description?: string },
  ): Promise<FlowVersionBody> {
    return this.send<FlowVersionBody>({
      method: "POST",
      path: `/flows/${encodeURIComponent(flowName)}/versions`,
      body,
    });
  }

  /** POST /dep-packages/uploads */
  createDepPackageUpload(
    body: { org_id: string; name: string; version: string; format: string },
    upload: UploadDescription,
  ): Promise<UploadTicket> {
    return this.send<UploadTicket>({
      method: "POST",
      path: "/dep-packages/uploads",
      body: { ...body, sha256: upload.sha256, size: upload.size },
    });
  }

  /** POST /dep-packages: records the uploaded package. */
  commitDepPackage(body: {
    org_id: string;
    name: string;
    version: string;
    format: string;
    upload_id: string;
    shared_with?: string[];
  }): Promise<DepPackageBody> {
    return this.send<DepPackageBody>({ method: "POST", path: "/dep-packages", body });
  }

  async listDepPackages(orgId: string): Promise<DepPackageBody[]> {
    const body = await this.send<{ packages: DepPackageBody[] }>({
      method: "GET",
      path: "/dep-packages",
      query: { org_id: orgId },
    });
    return body.packages;
  }

  /** PUT /deployments/{name}: creates or replaces. */
  putDeployment(name: string, body: Record<string, Json>): Promise<DeploymentBody> {
    return this.send<DeploymentBody>({
      method: "PUT",
      path: `/deployments/${encodeURIComponent(name)}`,
      body,
    });
  }

  async listDeployments(orgId: string): Promise<DeploymentBody[]> {
    const body = await this.send<{ deployments: DeploymentBody[] }>({
      method: "GET",
      path: "/deployments",
      query: { org_id: orgId },
    });
    return body.deployments;
  }

  /** GET /runs/{runId}/logs from `position` (the start when undefined). */
  getRunLogs(
    runId: string,
    options: { orgId?: string; position?: string; taskId?: string },
  ): Promise<RunLogsBody> {
    return this.send<RunLogsBody>({
      method: "GET",
      path: `/runs/${encodeURIComponent(runId)}/logs`,
      query: { org_id: options.orgId, position: options.position, task_id: options.taskId },
    });
  }

  /** GET /runs/{runId}/traceback; undefined when the run left none. */
  async getTraceback(runId: string, orgId?: string): Promise<TracebackBody | undefined> {
    const reply = await this.transport({
      method: "GET",
      path: `/runs/${encodeURIComponent(runId)}/traceback`,
      query: { org_id: orgId },
    });
    if (reply.status === 404) {
      const error = apiErrorOf(reply);
      // The run itself is unknown (the guide's uncoded 404): say so rather than "no traceback".
      if (!error.coded || error.code === "run_not_found") throw error;
      return undefined;
    }
    if (reply.status < 200 || reply.status >= 300) throw apiErrorOf(reply);
    return reply.body as TracebackBody;
  }
}

/** Storage refused an upload (checksum mismatch, expired URL, ...). */
export class UploadError extends DagyError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * PUTs bytes to an upload URL with exactly the headers the API asked for (they are part of the
 * presigned signature, and `x-amz-checksum-sha256` makes S3 check the digest).
 */
export async function putUpload(ticket: UploadTicket, bytes: Uint8Array): Promise<void> {
  let response: Response;
  try {
    response = await fetch(ticket.upload_url, {
      method: "PUT",
      headers: { ...ticket.upload_headers },
      body: bytes,
    });
  } catch (error) {
    throw unreachable(new URL(ticket.upload_url).origin, error, "the upload URL the API returned");
  }
  if (response.ok) {
    await response.arrayBuffer();
    return;
  }
  const text = await response.text();
  // S3 errors are XML: <Error><Code>BadDigest</Code><Message>...</Message></Error>
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  throw new UploadError(
    response.status,
    `storage refused the upload (HTTP ${response.status}${code !== undefined ? ` ${code}` : ""}): ${message ?? (text.slice(0, 200) || "no details")}`,
  );
}
