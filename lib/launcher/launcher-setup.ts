/**
 * Building a DagLauncher's parts: its options from the environment (the guide's variables and
 * Dagy's), the check that they are complete, and the clients and backend it owns when none are
 * injected.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { FUNCTION_ENV, LAUNCHER_ENV, PLATFORM_ENV, parseList } from "../config/env";
import { ConfigurationError } from "../errors";
import type { TableNames } from "../persistence/schema";
import { EcsBackend } from "./ecs-backend";
import {
  DEFAULT_TABLES,
  type ComputeBackendKind,
  type DagLauncherDeps,
  type DagLauncherOptions,
  type LocalComputeBackend,
} from "./launcher-options";
import { WORKLOAD_PROFILES, type ComputeBackend, type WorkloadProfile } from "./types";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the guide's variables (LAUNCHER_ENV) and Dagy's (PLATFORM_ENV). Every missing
 * required variable is listed in one ConfigurationError.
 */
export function launcherOptionsFromEnv(env: Env, deps: DagLauncherDeps): DagLauncherOptions {
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
  const defaultProfile = get(FUNCTION_ENV.defaultWorkloadProfile)?.toLowerCase();
  if (defaultProfile !== undefined && !Object.hasOwn(WORKLOAD_PROFILES, defaultProfile)) {
    throw new ConfigurationError(
      `${FUNCTION_ENV.defaultWorkloadProfile} must be a workload profile (${Object.keys(WORKLOAD_PROFILES).join(", ")}), got "${defaultProfile}"`,
    );
  }
  return {
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
    ...(defaultProfile !== undefined
      ? { defaultWorkloadProfile: defaultProfile as WorkloadProfile }
      : {}),
    ...(secretsFile !== undefined ? { local: { secretsFile } } : {}),
  };
}

/** Lists everything missing in one ConfigurationError. */
export function assertLauncherOptions(options: DagLauncherOptions, deps: DagLauncherDeps): void {
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
}

/** What a launcher created, and so closes. */
export interface OwnedResources {
  dynamodb?: DynamoDBClient;
  doc?: DynamoDBDocumentClient;
  ecs?: ECSClient;
  local?: LocalComputeBackend;
}

/** DynamoDB only, same options as createDataClients (which would also build an S3 client). */
export function createDocClient(
  options: DagLauncherOptions,
  owned: OwnedResources,
): DynamoDBDocumentClient {
  const dynamodb = new DynamoDBClient({
    region: options.region ?? "us-east-1",
    ...(options.dynamodbEndpoint !== undefined
      ? {
          endpoint: options.dynamodbEndpoint,
          // Local servers accept any credentials.
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }
      : {}),
  });
  const doc = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  owned.dynamodb = dynamodb;
  owned.doc = doc;
  return doc;
}

export function createComputeBackend(
  kind: ComputeBackendKind,
  o: DagLauncherOptions,
  containerName: string,
  deps: DagLauncherDeps,
  owned: OwnedResources,
): ComputeBackend {
  if (kind === "local") {
    if (!deps.localBackend) {
      throw new ConfigurationError(
        `computeBackend "local" (${PLATFORM_ENV.computeBackend}) needs a LocalBackend: pass deps.backend or deps.localBackend; without it only ECS is available`,
      );
    }
    return (owned.local = deps.localBackend({
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
    owned.ecs = ecs;
  }
  return new EcsBackend({
    ...o.ecs,
    ecs,
    clusterArn: o.clusterArn ?? "",
    subnets: o.subnets ?? [],
    securityGroups: o.securityGroups ?? [],
    containerName,
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
