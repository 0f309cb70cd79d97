/**
 * DagLauncher: validates a launch request, records the run and starts one worker for it.
 *
 * Order of work in `launch()`, cheapest and side-effect-free first, so bad input writes
 * nothing: validate the request (no I/O) -> resolve the flow version (1 read) -> check the
 * parameters against the flow's declarations -> resolve the deployment's packages (reads) ->
 * build the worker environment and measure the ECS overrides -> claim the idempotency key ->
 * write the run QUEUED -> (spill very large parameters to S3) -> submit -> record the task ARN.
 *
 * Where the parameters go: inline in the worker's environment (DAGY_PARAMETERS) when they fit
 * ECS's container overrides; otherwise in the run record, which already stores them, with
 * DAGY_PARAMETERS_IN_RUN=1 telling the worker to take them from the record it claims; only
 * past RUN_RECORD_PARAMETERS_MAX_BYTES (DynamoDB items are capped at 400 KB) to S3, and only
 * when the launcher was given an object store. The Lambda handlers give none, so the S3 client
 * stays out of their bundles.
 *
 * Outcomes:
 * - Malformed request, bad parameters, overrides that cannot fit: InvalidLaunchRequestError is
 *   thrown and nothing is written.
 * - Unknown flow or deployment, a package the org may not use: `success: false` with the
 *   reason and `errorCode`, no run written (there is nothing to attach a run to; `runId` "").
 * - The backend could not start the worker (ECS refused, no capacity after retries): the run
 *   exists and is FAILED with the reason; `success: false`.
 */
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { LAUNCHER_ENV, PLATFORM_ENV, parseList } from "../config/env";
// Type only: createDataClients would bundle the S3 client (~100 KB) into the Lambda handlers.
import type { DataClients } from "../aws/clients";
import {
  ConfigurationError,
  ConflictError,
  DagyError,
  errorCode,
  ForbiddenError,
  InvalidLaunchRequestError,
  NotFoundError,
  RunNotFoundError,
  ValidationError,
} from "../errors";
import { createJsonLogger, type JsonLogger } from "../log";
import { Persistence } from "../persistence/persistence";
import type { FlowRecord, RunRecord } from "../persistence/records";
import type { TableNames } from "../persistence/schema";
import { resolveParameters } from "../sdk/parameters";
import type { FlowSpec, Json } from "../sdk/types";
// Direct module imports keep archive code (tar, fflate) out of the launcher's bundle.
import { runParametersKey } from "../storage/keys";
import { formatS3Uri } from "../storage/s3-uri";
// Type only, for the same reason: callers that can spill to S3 (CLI, local platform) inject one.
import type { ObjectStore } from "../storage/object-store";
import { EcsBackend, DEFAULT_CONTAINER_NAME, type EcsBackendOptions } from "./ecs-backend";
import { resolveResources, type TaskResources } from "./fargate";
// Type only: LocalBackend (child processes, tsx resolution) must stay out of the Lambda bundles,
// which reach this module; the local platform and the CLI inject it (DagLauncherDeps.localBackend).
import type { LocalBackendOptions } from "./local-backend";
import { LAUNCH_FIELD_WIRE_NAMES, parseLaunchRequest } from "./request";
import type {
  ComputeBackend,
  DagLaunchRequest,
  DagLaunchResult,
  WorkerLaunchSpec,
  WorkloadProfile,
} from "./types";
import {
  buildTaskOverrides,
  buildWorkerEnvironment,
  ECS_OVERRIDES_MAX_CHARS,
  overridesSize,
  type WorkerEnvironmentInput,
} from "./worker-spec";

/** What the launcher needs from persistence (the real `Persistence` satisfies it). */
export interface LauncherPersistence {
  readonly flows: Pick<Persistence["flows"], "resolve">;
  readonly runs: Pick<
    Persistence["runs"],
    | "create"
    | "get"
    | "transition"
    | "update"
    | "requestCancel"
    | "claimIdempotencyKey"
    | "releaseIdempotencyKey"
  >;
  readonly deployments: Pick<Persistence["deployments"], "resolvePackageUris">;
}

export type ComputeBackendKind = "ecs" | "local";

export interface DagLauncherOptions {
  // The guide's configuration (DAGY_ECS_* and bucket variables).
  readonly clusterArn?: string;
  readonly taskExecutionRoleArn?: string;
  readonly taskRoleArn?: string;
  readonly workerImage?: string;
  readonly subnets?: readonly string[];
  readonly securityGroups?: readonly string[];
  readonly logGroup?: string;
  readonly region?: string;
  /** Required: very large parameters spill to `run-inputs/…` here (when a store is given). */
  readonly artifactBucket?: string;
  /** Required: the worker uploads failure tracebacks here. */
  readonly tracesBucket?: string;
  // Dagy's additions.
  /** Default `tableNamesFor("dagy")`. */
  readonly tables?: TableNames;
  /** Worker task definition family (the stack's); see EcsBackendOptions.taskDefinition. */
  readonly taskDefinition?: string;
  /** Default `worker`. */
  readonly containerName?: string;
  readonly assignPublicIp?: "ENABLED" | "DISABLED";
  /** Default `ecs`. Ignored when a backend is injected. */
  readonly computeBackend?: ComputeBackendKind;
  /** Local endpoints (embedded default and tests). */
  readonly dynamodbEndpoint?: string;
  readonly s3Endpoint?: string;
  /** LocalBackend settings when `computeBackend` is `local`. */
  readonly local?: Partial<LocalBackendOptions>;
  /** Extra EcsBackend settings (retry policies, ...). */
  readonly ecs?: Partial<Omit<EcsBackendOptions, "ecs">>;
  /** Size used when a request names neither a profile nor cpu/memory. Default `medium`. */
  readonly defaultWorkloadProfile?: WorkloadProfile;
}

export interface DagLauncherDeps {
  readonly persistence?: LauncherPersistence;
  /**
   * Where parameters too large for the run record (RUN_RECORD_PARAMETERS_MAX_BYTES) are
   * spilled. Never built by the launcher: without it, such a launch is refused.
   */
  readonly store?: Pick<ObjectStore, "put">;
  readonly backend?: ComputeBackend;
  /** Used to build persistence when it is not given (only `doc` is used). */
  readonly clients?: Pick<DataClients, "doc">;
  /** Used to build the EcsBackend when no backend is given. */
  readonly ecsClient?: ECSClient;
  readonly clock?: () => Date;
  readonly idGenerator?: () => string;
  readonly logger?: Pick<JsonLogger, "info" | "warn">;
  /**
   * Builds the backend when `computeBackend` is `local` and no `backend` is given, e.g.
   * `(options) => new LocalBackend(options)`. Injected rather than imported so that code
   * which only launches on ECS (the Lambda handlers) does not bundle LocalBackend.
   */
  readonly localBackend?: (options: LocalBackendOptions) => LocalComputeBackend;
}

/** A local backend the launcher built, and so closes. */
export type LocalComputeBackend = ComputeBackend & { close(): Promise<void> };

export type BatchLaunchRequest = Partial<DagLaunchRequest> & { readonly flowName: string };
export type BatchLaunchCommon = Partial<Omit<DagLaunchRequest, "flowName">> & {
  readonly orgId: string;
};

export interface CancelRunOptions {
  /** The caller's org: a run of another org is "not found". */
  readonly orgId?: string;
  readonly reason?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Largest parameters JSON (UTF-8 bytes) kept in the run record. DynamoDB refuses items over
 * 400 KB; the rest of the record (metadata, extra env, task states the worker merges in later)
 * needs the margin.
 */
export const RUN_RECORD_PARAMETERS_MAX_BYTES = 300 * 1024;

const DEFAULT_TABLES: TableNames = {
  flows: "dagy-flows",
  runs: "dagy-runs",
  deployments: "dagy-deployments",
  depPackages: "dagy-dep-packages",
};

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Renames `parameters.x` style fields to the wire names the edges use, for the same message. */
function requestProblem(message: string, field: string): InvalidLaunchRequestError {
  return new InvalidLaunchRequestError(`invalid launch request: ${message}`, field);
}

export class DagLauncher {
  private readonly persistence: LauncherPersistence;
  private readonly store: Pick<ObjectStore, "put"> | undefined;
  private readonly backend: ComputeBackend;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  private readonly logger: Pick<JsonLogger, "info" | "warn">;
  private readonly tables: TableNames;
  private readonly artifactBucket: string;
  private readonly tracesBucket: string;
  private readonly containerName: string;
  private readonly defaultProfile: WorkloadProfile;
  /** What this launcher created, and so closes. */
  private readonly owned: {
    dynamodb?: DynamoDBClient;
    doc?: DynamoDBDocumentClient;
    ecs?: ECSClient;
    local?: LocalComputeBackend;
  } = {};

  /**
   * Reads the guide's variables (LAUNCHER_ENV) and Dagy's (PLATFORM_ENV). Every missing
   * required variable is listed in one ConfigurationError.
   */
  static fromEnv(env: Env = process.env, deps: DagLauncherDeps = {}): DagLauncher {
    const get = (name: string): string | undefined => {
      const value = env[name]?.trim();
      return value ? value : undefined;
    };
    const backendKind = (get(PLATFORM_ENV.computeBackend) ?? "ecs").toLowerCase();
    if (backendKind !== "ecs" && backendKind !== "local") {
      throw new ConfigurationError(
        `${PLATFORM_ENV.computeBackend} must be "ecs" or "local", got "${backendKind}"`,
      );
    }
    const required: string[] = [LAUNCHER_ENV.artifactBucket, LAUNCHER_ENV.tracesBucket];
    if (!deps.persistence) {
      required.push(
        PLATFORM_ENV.flowsTable,
        PLATFORM_ENV.runsTable,
        PLATFORM_ENV.deploymentsTable,
        PLATFORM_ENV.depPackagesTable,
      );
    } else {
      required.push(PLATFORM_ENV.runsTable); // the worker still needs its name
    }
    if (backendKind === "ecs" && !deps.backend) {
      required.push(
        LAUNCHER_ENV.clusterArn,
        LAUNCHER_ENV.taskExecutionRoleArn,
        LAUNCHER_ENV.taskRoleArn,
        LAUNCHER_ENV.workerImage,
        LAUNCHER_ENV.subnets,
        LAUNCHER_ENV.securityGroups,
        LAUNCHER_ENV.logGroup,
      );
    }
    const missing = [...new Set(required)].filter((name) => get(name) === undefined);
    if (missing.length > 0) {
      throw new ConfigurationError(
        `DagLauncher configuration is incomplete; missing environment variables: ${missing.join(", ")}`,
      );
    }
    const tables: TableNames = {
      flows: get(PLATFORM_ENV.flowsTable) ?? DEFAULT_TABLES.flows,
      runs: get(PLATFORM_ENV.runsTable) ?? DEFAULT_TABLES.runs,
      deployments: get(PLATFORM_ENV.deploymentsTable) ?? DEFAULT_TABLES.deployments,
      depPackages: get(PLATFORM_ENV.depPackagesTable) ?? DEFAULT_TABLES.depPackages,
    };
    const optional = <K extends string>(key: K, name: string): Partial<Record<K, string>> => {
      const value = get(name);
      return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
    };
    const secretsFile = get(PLATFORM_ENV.localSecretsFile);
    return new DagLauncher(
      {
        ...optional("clusterArn", LAUNCHER_ENV.clusterArn),
        ...optional("taskExecutionRoleArn", LAUNCHER_ENV.taskExecutionRoleArn),
        ...optional("taskRoleArn", LAUNCHER_ENV.taskRoleArn),
        ...optional("workerImage", LAUNCHER_ENV.workerImage),
        subnets: parseList(env[LAUNCHER_ENV.subnets]),
        securityGroups: parseList(env[LAUNCHER_ENV.securityGroups]),
        ...optional("logGroup", LAUNCHER_ENV.logGroup),
        ...optional("region", PLATFORM_ENV.region),
        ...optional("artifactBucket", LAUNCHER_ENV.artifactBucket),
        ...optional("tracesBucket", LAUNCHER_ENV.tracesBucket),
        tables,
        ...optional("taskDefinition", PLATFORM_ENV.taskDefinition),
        ...optional("containerName", PLATFORM_ENV.containerName),
        ...optional("dynamodbEndpoint", PLATFORM_ENV.dynamodbEndpoint),
        ...optional("s3Endpoint", PLATFORM_ENV.s3Endpoint),
        computeBackend: backendKind,
        ...(secretsFile !== undefined ? { local: { secretsFile } } : {}),
      },
      deps,
    );
  }

  constructor(
    readonly options: DagLauncherOptions,
    deps: DagLauncherDeps = {},
  ) {
    const missing: string[] = [];
    if (!options.artifactBucket) missing.push(`artifactBucket (${LAUNCHER_ENV.artifactBucket})`);
    if (!options.tracesBucket) missing.push(`tracesBucket (${LAUNCHER_ENV.tracesBucket})`);
    const kind = options.computeBackend ?? "ecs";
    if (!deps.backend && kind === "ecs") {
      if (!options.clusterArn) missing.push(`clusterArn (${LAUNCHER_ENV.clusterArn})`);
      if (!options.subnets?.length) missing.push(`subnets (${LAUNCHER_ENV.subnets})`);
      if (!options.securityGroups?.length) {
        missing.push(`securityGroups (${LAUNCHER_ENV.securityGroups})`);
      }
      if (!options.taskDefinition && !(options.workerImage && options.taskExecutionRoleArn)) {
        missing.push(
          `taskDefinition (${PLATFORM_ENV.taskDefinition}), or workerImage (${LAUNCHER_ENV.workerImage}) and taskExecutionRoleArn (${LAUNCHER_ENV.taskExecutionRoleArn}) to register one`,
        );
      }
    }
    if (missing.length > 0) {
      throw new ConfigurationError(
        `DagLauncher configuration is incomplete; missing: ${missing.join(", ")}`,
      );
    }
    this.artifactBucket = options.artifactBucket ?? "";
    this.tracesBucket = options.tracesBucket ?? "";
    this.tables = options.tables ?? DEFAULT_TABLES;
    this.containerName = options.containerName ?? DEFAULT_CONTAINER_NAME;
    this.defaultProfile = options.defaultWorkloadProfile ?? "medium";
    this.clock = deps.clock ?? (() => new Date());
    this.newId = deps.idGenerator ?? randomUUID;
    this.logger =
      deps.logger ??
      createJsonLogger({ component: "launcher" }, (line) => {
        process.stderr.write(`${line}\n`);
      });

    this.persistence =
      deps.persistence ?? new Persistence(deps.clients?.doc ?? this.ownDocClient(), this.tables);
    this.store = deps.store;
    this.backend = deps.backend ?? this.createBackend(kind, deps);
  }

  /** DynamoDB only, same options as createDataClients (which would also build an S3 client). */
  private ownDocClient(): DynamoDBDocumentClient {
    const o = this.options;
    const dynamodb = new DynamoDBClient({
      region: o.region ?? "us-east-1",
      ...(o.dynamodbEndpoint !== undefined
        ? {
            endpoint: o.dynamodbEndpoint,
            // Local servers accept any credentials.
            credentials: { accessKeyId: "local", secretAccessKey: "local" },
          }
        : {}),
    });
    const doc = DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
    });
    this.owned.dynamodb = dynamodb;
    this.owned.doc = doc;
    return doc;
  }

  private createBackend(kind: ComputeBackendKind, deps: DagLauncherDeps): ComputeBackend {
    const o = this.options;
    if (kind === "local") {
      if (!deps.localBackend) {
        throw new ConfigurationError(
          `computeBackend "local" (${PLATFORM_ENV.computeBackend}) needs a LocalBackend: pass deps.backend or deps.localBackend; without it only ECS is available`,
        );
      }
      return (this.owned.local = deps.localBackend({
        logDir: `${process.cwd()}/.dagy/logs`,
        ...o.local,
        ...(o.dynamodbEndpoint !== undefined ? { dynamodbEndpoint: o.dynamodbEndpoint } : {}),
        ...(o.s3Endpoint !== undefined ? { s3Endpoint: o.s3Endpoint } : {}),
        ...(o.region !== undefined ? { region: o.region } : {}),
      }));
    }
    let ecs = deps.ecsClient;
    if (!ecs) {
      // One attempt per SDK call: EcsBackend's own retry loop (same clientToken) is the policy.
      ecs = new ECSClient({
        maxAttempts: 1,
        ...(o.region !== undefined ? { region: o.region } : {}),
      });
      this.owned.ecs = ecs;
    }
    return new EcsBackend({
      ...o.ecs,
      ecs,
      clusterArn: o.clusterArn ?? "",
      subnets: o.subnets ?? [],
      securityGroups: o.securityGroups ?? [],
      containerName: this.containerName,
      ...(o.taskDefinition !== undefined ? { taskDefinition: o.taskDefinition } : {}),
      ...(o.assignPublicIp !== undefined ? { assignPublicIp: o.assignPublicIp } : {}),
      ...(o.taskRoleArn !== undefined ? { taskRoleArn: o.taskRoleArn } : {}),
      ...(o.taskExecutionRoleArn !== undefined
        ? { taskExecutionRoleArn: o.taskExecutionRoleArn }
        : {}),
      ...(o.workerImage !== undefined ? { workerImage: o.workerImage } : {}),
      ...(o.logGroup !== undefined ? { logGroup: o.logGroup } : {}),
      ...(o.region !== undefined ? { region: o.region } : {}),
    });
  }

  /** Releases what the launcher created (clients, a local backend's workers). */
  async close(): Promise<void> {
    await this.owned.local?.close();
    this.owned.doc?.destroy();
    this.owned.dynamodb?.destroy();
    this.owned.ecs?.destroy();
  }

  /**
   * Launches one run. Throws InvalidLaunchRequestError for bad input (nothing written);
   * returns `success: false` for unknown flows/deployments (nothing written) and for a worker
   * that could not be started (run FAILED).
   */
  async launch(input: DagLaunchRequest): Promise<DagLaunchResult> {
    const request = parseLaunchRequest(input);
    const resources = resolveResources(request, this.defaultProfile);
    const metadata = request.metadata ?? {};
    const notLaunched = (
      error: unknown,
      correlationId = request.correlationId ?? "",
    ): DagLaunchResult => ({
      success: false,
      runId: "",
      flowName: request.flowName,
      correlationId,
      errorMessage: errorMessage(error),
      errorCode: errorCode(error),
      metadata,
    });

    // Reads: the flow version, then the deployment's packages.
    let flow: FlowRecord;
    try {
      flow = await this.persistence.flows.resolve(
        request.orgId,
        request.flowName,
        request.flowVersion ?? "latest",
      );
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof ForbiddenError)
        return notLaunched(error);
      throw error;
    }
    const parameters = this.checkParameters(flow, request.parameters ?? {});
    let depPackageUris: string[] = [];
    if (request.deploymentName) {
      try {
        depPackageUris = await this.persistence.deployments.resolvePackageUris(
          request.orgId,
          request.deploymentName,
        );
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof ForbiddenError)
          return notLaunched(error);
        throw error;
      }
    }

    // Build the worker's spec and make sure it fits before anything is written.
    const runId = this.newId();
    // Traces always have a correlation id: the run's own when the caller gave none.
    const correlationId = request.correlationId || runId;
    const secretsEnv = request.secretsEnv ?? {};
    const envInput: WorkerEnvironmentInput = {
      runId,
      orgId: request.orgId,
      flowName: flow.flow_name,
      flowVersion: flow.flow_version,
      artifactUri: flow.artifact_s3_uri,
      artifactSha256: flow.artifact_sha256,
      environment: request.environment ?? "",
      correlationId,
      depPackageUris,
      secretNames: Object.keys(secretsEnv).sort(),
      runsTable: this.tables.runs,
      tracesBucket: this.tracesBucket,
      ...(this.options.logGroup !== undefined ? { logGroup: this.options.logGroup } : {}),
      ...(this.options.region !== undefined ? { region: this.options.region } : {}),
      ...(request.extraEnvVars !== undefined ? { extraEnvVars: request.extraEnvVars } : {}),
    };
    let spec = this.workerSpec(
      request,
      resources,
      buildWorkerEnvironment({ ...envInput, parameters }),
    );
    let spill: { uri: string; body: string } | undefined;
    if (this.overridesChars(spec) > ECS_OVERRIDES_MAX_CHARS) {
      const body = JSON.stringify(parameters);
      const bytes = Buffer.byteLength(body, "utf8");
      if (bytes <= RUN_RECORD_PARAMETERS_MAX_BYTES) {
        // The run record stores the parameters anyway: the worker reads them from it.
        spec = this.workerSpec(
          request,
          resources,
          buildWorkerEnvironment({ ...envInput, parametersInRun: true }),
        );
      } else {
        const field = LAUNCH_FIELD_WIRE_NAMES.parameters;
        if (!this.store) {
          throw requestProblem(
            `${field}: ${bytes} bytes of JSON, over the ${RUN_RECORD_PARAMETERS_MAX_BYTES} bytes a run record can hold; pass a URI to the data (e.g. an s3:// location) as a parameter instead`,
            field,
          );
        }
        const uri = formatS3Uri(this.artifactBucket, runParametersKey(request.orgId, runId));
        spec = this.workerSpec(
          request,
          resources,
          buildWorkerEnvironment({ ...envInput, parametersUri: uri }),
        );
        spill = { uri, body };
      }
      const size = this.overridesChars(spec);
      if (size > ECS_OVERRIDES_MAX_CHARS) {
        throw requestProblem(
          `extraEnvVars: the worker's container overrides would be ${size} characters even with the parameters moved out of them, over ECS's limit of ${ECS_OVERRIDES_MAX_CHARS}; pass large values as parameters instead`,
          "extraEnvVars",
        );
      }
    }

    // Writes.
    const now = this.clock();
    if (request.idempotencyKey !== undefined) {
      const claim = await this.persistence.runs.claimIdempotencyKey(
        request.orgId,
        request.idempotencyKey,
        runId,
        now,
      );
      if (!claim.claimed) return this.replay(claim.runId, request);
    }
    const createdAt = now.toISOString();
    const record: RunRecord = {
      run_id: runId,
      org_id: request.orgId,
      flow_name: flow.flow_name,
      flow_version: flow.flow_version,
      status: "QUEUED",
      environment: request.environment ?? "",
      ...(request.deploymentName ? { deployment_name: request.deploymentName } : {}),
      correlation_id: correlationId,
      trigger_source: request.triggerSource || "lambda",
      ...(request.triggeredBy ? { triggered_by: request.triggeredBy } : {}),
      ...(spill ? { parameters_uri: spill.uri } : { parameters }),
      artifact_s3_uri: flow.artifact_s3_uri,
      artifact_sha256: flow.artifact_sha256,
      dep_package_uris: depPackageUris,
      secret_names: envInput.secretNames.slice(),
      ...(resources.workloadProfile !== undefined
        ? { workload_profile: resources.workloadProfile }
        : {}),
      cpu: resources.cpu,
      memory: resources.memory,
      ephemeral_storage_gib: resources.ephemeralStorageGib,
      capacity_provider: resources.capacityProvider,
      ...(request.extraEnvVars !== undefined ? { extra_env_vars: request.extraEnvVars } : {}),
      metadata,
      created_at: createdAt,
      updated_at: createdAt,
      ...(request.idempotencyKey !== undefined ? { idempotency_key: request.idempotencyKey } : {}),
    };
    try {
      await this.persistence.runs.create(record);
    } catch (error) {
      await this.releaseKey(request, runId);
      throw error;
    }
    const failed = async (error: unknown): Promise<DagLaunchResult> => {
      const message = errorMessage(error);
      await this.persistence.runs.transition(runId, "QUEUED", "FAILED", { error_message: message });
      // A launch that started nothing frees its key, so the caller can retry with it.
      await this.releaseKey(request, runId);
      this.logger.warn("launch failed", {
        run_id: runId,
        org_id: request.orgId,
        flow_name: flow.flow_name,
        error: message,
      });
      return {
        success: false,
        runId,
        flowName: flow.flow_name,
        correlationId,
        errorMessage: message,
        errorCode: errorCode(error),
        metadata,
      };
    };
    if (spill && this.store) {
      try {
        await this.store.put(spill.uri, spill.body, { contentType: "application/json" });
      } catch (error) {
        return failed(error);
      }
    }
    let taskArn: string;
    let logStream: string;
    try {
      const submitted = await this.backend.submit(spec);
      taskArn = submitted.taskArn;
      logStream = submitted.logStream ?? runId;
    } catch (error) {
      return failed(error);
    }
    await this.recordTask(runId, taskArn, logStream);
    return { success: true, runId, flowName: flow.flow_name, taskArn, correlationId, metadata };
  }

  /**
   * Launches many runs with bounded concurrency; results come back in request order. Each
   * request is `common` overlaid with the request's own fields (parameters, metadata and env
   * maps are merged, the request's entries winning), with child correlation id
   * `<parent>:<index>` (the parent is `common.correlationId`, or a fresh id). A request that
   * fails, even validation, gives a `success: false` result at its index; the others go on.
   */
  async launchBatch(
    requests: readonly BatchLaunchRequest[],
    common: BatchLaunchCommon,
    options: { readonly concurrency?: number } = {},
  ): Promise<DagLaunchResult[]> {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InvalidLaunchRequestError("concurrency must be a positive integer", "concurrency");
    }
    const parent = common.correlationId || this.newId();
    const results = new Array<DagLaunchResult>(requests.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let index = next++; index < requests.length; index = next++) {
        const own = requests[index]!;
        const correlationId = own.correlationId || `${parent}:${index}`;
        const merged = {
          ...common,
          ...own,
          correlationId,
          ...mergedMap("parameters", common.parameters, own.parameters),
          ...mergedMap("metadata", common.metadata, own.metadata),
          ...mergedMap("extraEnvVars", common.extraEnvVars, own.extraEnvVars),
          ...mergedMap("secretsEnv", common.secretsEnv, own.secretsEnv),
          // One key per item: a shared key would make every item replay the first.
          ...(own.idempotencyKey === undefined && common.idempotencyKey !== undefined
            ? { idempotencyKey: `${common.idempotencyKey}:${index}` }
            : {}),
        } as DagLaunchRequest;
        try {
          results[index] = await this.launch(merged);
        } catch (error) {
          results[index] = {
            success: false,
            runId: "",
            flowName: String(merged.flowName),
            correlationId,
            errorMessage: errorMessage(error),
            errorCode: errorCode(error),
            metadata: merged.metadata ?? {},
          };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
    return results;
  }

  /**
   * The run record, or undefined when there is no such run — or when `orgId` is given and the
   * run belongs to another org (never reveal another tenant's run).
   */
  async getRunStatus(
    runId: string,
    opts: { readonly orgId?: string } = {},
  ): Promise<RunRecord | undefined> {
    let run: RunRecord | undefined;
    try {
      run = await this.persistence.runs.get(runId);
    } catch (error) {
      if (error instanceof ValidationError) return undefined; // not a run id at all
      throw error;
    }
    if (!run) return undefined;
    if (opts.orgId !== undefined && run.org_id !== opts.orgId) return undefined;
    return run;
  }

  /**
   * Cancels a run. QUEUED: CANCELLED at once (conditional on still being QUEUED) and its task,
   * if any, stopped. RUNNING: `cancel_requested` set and the task stopped; the worker records
   * CANCELLED on SIGTERM, and reconciliation does if the worker cannot. A terminal run is a
   * ConflictError; an unknown run, or another org's, a RunNotFoundError.
   */
  async cancelRun(runId: string, opts: CancelRunOptions = {}): Promise<RunRecord> {
    const reason = (opts.reason ?? "cancelled by request").slice(0, 255);
    let run = await this.getRunStatus(runId, opts);
    // A few rounds: the worker may move QUEUED -> RUNNING between our read and our write.
    for (let round = 0; round < 3 && run; round++) {
      if (run.status === "QUEUED") {
        const cancelled = await this.persistence.runs.transition(runId, "QUEUED", "CANCELLED", {
          cancel_requested: true,
          stop_reason: reason,
        });
        if (!cancelled) {
          run = await this.persistence.runs.get(runId);
          continue;
        }
        if (cancelled.task_arn) await this.stopQuietly(cancelled.task_arn, reason, runId);
        return cancelled;
      }
      if (run.status === "RUNNING") {
        const flagged = await this.persistence.runs.requestCancel(runId);
        if (!flagged) break;
        if (flagged.status !== "RUNNING" && flagged.status !== "QUEUED") {
          throw new ConflictError(`run ${runId} is already ${flagged.status}`);
        }
        if (flagged.task_arn) await this.backend.stop(flagged.task_arn, reason);
        return flagged;
      }
      throw new ConflictError(`run ${runId} is already ${run.status}`);
    }
    if (!run) throw new RunNotFoundError(runId);
    throw new ConflictError(`run ${runId} changed status while being cancelled; try again`);
  }

  // ------------------------------------------------------------------------------------------

  private workerSpec(
    request: DagLaunchRequest,
    resources: TaskResources,
    environment: Record<string, string>,
  ): WorkerLaunchSpec {
    return {
      runId: environment.DAGY_RUN_ID ?? "",
      orgId: request.orgId,
      flowName: request.flowName,
      environment,
      cpu: resources.cpu,
      memory: resources.memory,
      ephemeralStorageGib: resources.ephemeralStorageGib,
      capacityProvider: resources.capacityProvider,
      secretsEnv: request.secretsEnv ?? {},
    };
  }

  /** Measured against the overrides EcsBackend sends, whichever backend runs the worker. */
  private overridesChars(spec: WorkerLaunchSpec): number {
    return overridesSize(
      buildTaskOverrides(spec, {
        containerName: this.containerName,
        ...(this.options.taskRoleArn !== undefined
          ? { taskRoleArn: this.options.taskRoleArn }
          : {}),
        ...(this.options.taskExecutionRoleArn !== undefined
          ? { executionRoleArn: this.options.taskExecutionRoleArn }
          : {}),
      }),
    );
  }

  private checkParameters(flow: FlowRecord, given: Record<string, Json>): Record<string, Json> {
    let spec: Pick<FlowSpec, "parameters">;
    try {
      const parsed = JSON.parse(flow.spec) as Partial<FlowSpec>;
      spec = { parameters: parsed.parameters ?? {} };
    } catch (error) {
      throw new DagyError(
        `flow ${flow.flow_name} version ${flow.flow_version} has an unreadable spec; register it again`,
        { cause: error },
      );
    }
    try {
      return resolveParameters(spec, given);
    } catch (error) {
      if (error instanceof ValidationError) {
        throw requestProblem(error.message, error.field ?? LAUNCH_FIELD_WIRE_NAMES.parameters);
      }
      throw error;
    }
  }

  /** The first launch's result, from its run record. */
  private async replay(runId: string, request: DagLaunchRequest): Promise<DagLaunchResult> {
    const run = await this.persistence.runs.get(runId);
    if (!run) {
      return {
        success: false,
        runId,
        flowName: request.flowName,
        correlationId: request.correlationId ?? "",
        errorMessage: `a launch with idempotency key ${request.idempotencyKey ?? ""} is still in progress (run ${runId}); retry shortly`,
        errorCode: "conflict",
        metadata: request.metadata ?? {},
        replayed: true,
      };
    }
    // The first launch succeeded if it started a task, whatever the run did afterwards.
    const success = run.status !== "FAILED" || Boolean(run.task_arn);
    return {
      success,
      runId: run.run_id,
      flowName: run.flow_name,
      ...(run.task_arn ? { taskArn: run.task_arn } : {}),
      correlationId: run.correlation_id,
      ...(!success && run.error_message ? { errorMessage: run.error_message } : {}),
      metadata: run.metadata ?? {},
      replayed: true,
    };
  }

  private async recordTask(runId: string, taskArn: string, logStream: string): Promise<void> {
    try {
      const updated = await this.persistence.runs.update(runId, {
        task_arn: taskArn,
        log_stream: logStream,
      });
      // Cancelled while we were submitting: the task must not run on.
      if (updated?.status === "CANCELLED") {
        await this.stopQuietly(
          taskArn,
          updated.stop_reason ?? "run cancelled before its task started",
          runId,
        );
      }
    } catch (error) {
      // The task is running and the worker will record itself; the launch did succeed.
      this.logger.warn("could not record the task ARN", {
        run_id: runId,
        task_arn: taskArn,
        error: errorMessage(error),
      });
    }
  }

  private async stopQuietly(taskArn: string, reason: string, runId: string): Promise<void> {
    try {
      await this.backend.stop(taskArn, reason);
    } catch (error) {
      this.logger.warn("could not stop the task", {
        run_id: runId,
        task_arn: taskArn,
        error: errorMessage(error),
      });
    }
  }

  private async releaseKey(request: DagLaunchRequest, runId: string): Promise<void> {
    if (request.idempotencyKey === undefined) return;
    try {
      await this.persistence.runs.releaseIdempotencyKey(
        request.orgId,
        request.idempotencyKey,
        runId,
      );
    } catch (error) {
      this.logger.warn("could not release the idempotency key", {
        run_id: runId,
        error: errorMessage(error),
      });
    }
  }
}

function mergedMap<K extends string, V>(
  key: K,
  common: Readonly<Record<string, V>> | undefined,
  own: Readonly<Record<string, V>> | undefined,
): Partial<Record<K, Record<string, V>>> {
  if (common === undefined && own === undefined) return {};
  return { [key]: { ...common, ...own } } as Record<K, Record<string, V>>;
}
