/**
 * The four tables, described once. The CDK storage construct, the embedded default's table
 * creation and the models all read these definitions, so key names cannot drift.
 * Attribute names are the guide's snake_case.
 */

export interface KeyDef {
  readonly name: string;
  readonly type: "S" | "N";
}

export interface IndexDef {
  readonly indexName: string;
  readonly partitionKey: KeyDef;
  readonly sortKey?: KeyDef;
}

export interface TableDef {
  /** Logical name: the configuration key of the physical table name. */
  readonly logicalName: "flows" | "runs" | "deployments" | "depPackages";
  readonly partitionKey: KeyDef;
  readonly sortKey?: KeyDef;
  readonly indexes: readonly IndexDef[];
  /** Attribute holding an epoch-seconds expiry, if the table uses TTL. */
  readonly ttlAttribute?: string;
}

/**
 * flows: one item per (org, flow, version). `flow_key` is `<flow_name>#<flow_version>` so one
 * Query lists an org's flows and `begins_with(flow_key, "<flow_name>#")` lists a flow's versions.
 */
export const FLOWS_TABLE: TableDef = {
  logicalName: "flows",
  partitionKey: { name: "org_id", type: "S" },
  sortKey: { name: "flow_key", type: "S" },
  indexes: [],
};

/**
 * runs: one item per run, keyed by `run_id`. Index keys are composite attributes written with
 * the run: `org_flow` = `<org_id>#<flow_name>`, `org_status` = `<org_id>#<status>`.
 * `active_status` is present only while the run is QUEUED or RUNNING (a sparse index the
 * reconciliation sweep reads). `by_task_arn` finds the run of an ECS task whose event does not
 * carry the run id (sparse too: `task_arn` is absent until a task is started). `parent_run_id`
 * is present only on the child runs of an isolated map (`by_parent`, sparse: lists a run's
 * children in launch order). Idempotency records live here too, under
 * `run_id` = `idempotency#<org_id>#<key>`, expiring through `expires_at`.
 */
export const RUNS_TABLE: TableDef = {
  logicalName: "runs",
  partitionKey: { name: "run_id", type: "S" },
  indexes: [
    {
      indexName: "by_org",
      partitionKey: { name: "org_id", type: "S" },
      sortKey: { name: "created_at", type: "S" },
    },
    {
      indexName: "by_org_flow",
      partitionKey: { name: "org_flow", type: "S" },
      sortKey: { name: "created_at", type: "S" },
    },
    {
      indexName: "by_org_status",
      partitionKey: { name: "org_status", type: "S" },
      sortKey: { name: "created_at", type: "S" },
    },
    {
      indexName: "by_active_status",
      partitionKey: { name: "active_status", type: "S" },
      sortKey: { name: "updated_at", type: "S" },
    },
    {
      indexName: "by_task_arn",
      partitionKey: { name: "task_arn", type: "S" },
    },
    {
      indexName: "by_parent",
      partitionKey: { name: "parent_run_id", type: "S" },
      sortKey: { name: "created_at", type: "S" },
    },
  ],
  ttlAttribute: "expires_at",
};

/** deployments: one item per (org, deployment name). */
export const DEPLOYMENTS_TABLE: TableDef = {
  logicalName: "deployments",
  partitionKey: { name: "org_id", type: "S" },
  sortKey: { name: "deployment_name", type: "S" },
  indexes: [],
};

/** dep packages: keyed by the globally unique `slug`; `by_org` lists an org's packages. */
export const DEP_PACKAGES_TABLE: TableDef = {
  logicalName: "depPackages",
  partitionKey: { name: "slug", type: "S" },
  indexes: [
    {
      indexName: "by_org",
      partitionKey: { name: "org_id", type: "S" },
      sortKey: { name: "slug", type: "S" },
    },
  ],
};

export const TABLES = [FLOWS_TABLE, RUNS_TABLE, DEPLOYMENTS_TABLE, DEP_PACKAGES_TABLE] as const;

/** Physical table names, from configuration. */
export interface TableNames {
  readonly flows: string;
  readonly runs: string;
  readonly deployments: string;
  readonly depPackages: string;
}

/** Table names for a name prefix, e.g. `dagy-develop` -> `dagy-develop-runs`. */
export function tableNamesFor(prefix: string): TableNames {
  return {
    flows: `${prefix}-flows`,
    runs: `${prefix}-runs`,
    deployments: `${prefix}-deployments`,
    depPackages: `${prefix}-dep-packages`,
  };
}

export const RUN_STATUSES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** Allowed transitions; every status write is a conditional update on the current status. */
export const ALLOWED_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  QUEUED: ["RUNNING", "FAILED", "CANCELLED"],
  // RUNNING -> QUEUED: an attempt stopped by the infrastructure and the run relaunched.
  RUNNING: ["QUEUED", "SUCCEEDED", "FAILED", "CANCELLED"],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};
