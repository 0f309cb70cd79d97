/**
 * The CLI's view of a Dagy API: one client over HTTP, whatever the target. The local platform
 * and plain `--url` APIs take the requests as they are; a deployed stack's API takes them
 * SigV4-signed (IAM mode) or with a bearer token (JWT mode) — see `request-signing.ts`.
 * Transport: `http-transport.ts`; reply bodies: `api-bodies.ts`.
 */
import { DagyError } from "../errors";
import type { Json } from "../sdk/types";
import {
  type DeploymentBody,
  type DepPackageBody,
  type FlowVersionBody,
  type LaunchReplyBody,
  type ListRunsQuery,
  type RunBody,
  type RunListBody,
  type RunLogsBody,
  type ScheduleBody,
  type TracebackBody,
  type UploadDescription,
  type UploadTicket,
} from "./api-bodies";
import { apiErrorOf, unreachable, type ApiRequest, type ApiTransport } from "./http-transport";

export * from "./api-bodies";
export * from "./http-transport";

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
