/** The bodies the Dagy API answers with, as the CLI reads them (snake_case, as on the wire). */
import type { Json } from "../sdk/types";

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
