/**
 * Building a DagLauncher's parts: its options from the environment (the guide's variables and
 * Dagy's), the check that they are complete, and the clients and backend it owns when none are
 * injected.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDynamoDbClient, documentClient } from "../aws/dynamodb";
import { LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
import { parseRuntimeConfig } from "../config/runtime";
import { ConfigurationError } from "../errors";
import { EcsBackend } from "./ecs-backend";
import { launcherOptionsFromConfig } from "./from-config";
import {
  type ComputeBackendKind,
  type DagLauncherDeps,
  type DagLauncherOptions,
  type LocalComputeBackend,
} from "./launcher-options";
import type { ComputeBackend } from "./types";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The guide's `DagLauncher()` for users' own code: the options from the environment, read by
 * the one runtime configuration schema (entry point `launcher`: the guide's variables, tables
 * defaulting to `dagy-*`). Every problem is listed in one ConfigurationError.
 */
export function launcherOptionsFromEnv(env: Env): DagLauncherOptions {
  return launcherOptionsFromConfig(parseRuntimeConfig(env, "launcher"));
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
    // The stack's task definition (image, architecture, roles, log group); never guessed.
    if (!options.taskDefinition) missing.push(`taskDefinition (${PLATFORM_ENV.taskDefinition})`);
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

/** DynamoDB only (lib/aws/dynamodb.ts: the one region chain, local endpoints). */
export function createDocClient(
  options: DagLauncherOptions,
  owned: OwnedResources,
): DynamoDBDocumentClient {
  const dynamodb = createDynamoDbClient({
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.dynamodbEndpoint !== undefined
      ? { dynamodbEndpoint: options.dynamodbEndpoint }
      : {}),
  });
  const doc = documentClient(dynamodb);
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
    taskDefinition: o.taskDefinition ?? "",
    ...(o.assignPublicIp !== undefined ? { assignPublicIp: o.assignPublicIp } : {}),
    ...(deps.warm ? { warm: deps.warm } : {}),
    ...(o.taskRoleArn !== undefined ? { taskRoleArn: o.taskRoleArn } : {}),
    ...(o.taskExecutionRoleArn !== undefined
      ? { taskExecutionRoleArn: o.taskExecutionRoleArn }
      : {}),
  });
}
