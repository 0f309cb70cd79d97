/**
 * The handlers' configuration, read from the environment once, at cold start (entry points are
 * the only place that reads `process.env`). A missing or malformed variable fails the cold
 * start with a ConfigurationError naming it.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { HANDLER_ENV, LAUNCHER_ENV, PLATFORM_ENV } from "../lib/config/env";
import { ConfigurationError } from "../lib/errors";
import { FUNCTION_ENV } from "../lib/config/env";
import type { TableNames } from "../lib/persistence/schema";

export type Env = Readonly<Record<string, string | undefined>>;

export function optionalEnv(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

export function requiredEnv(env: Env, name: string): string {
  const value = optionalEnv(env, name);
  if (value === undefined) {
    throw new ConfigurationError(`environment variable ${name} is required`);
  }
  return value;
}

export function tablesFromEnv(env: Env): TableNames {
  return {
    flows: requiredEnv(env, PLATFORM_ENV.flowsTable),
    runs: requiredEnv(env, PLATFORM_ENV.runsTable),
    deployments: requiredEnv(env, PLATFORM_ENV.deploymentsTable),
    depPackages: requiredEnv(env, PLATFORM_ENV.depPackagesTable),
  };
}

export function endpointsFromEnv(env: Env): {
  region?: string;
  dynamodbEndpoint?: string;
  s3Endpoint?: string;
} {
  const region = optionalEnv(env, PLATFORM_ENV.region);
  const dynamodbEndpoint = optionalEnv(env, PLATFORM_ENV.dynamodbEndpoint);
  const s3Endpoint = optionalEnv(env, PLATFORM_ENV.s3Endpoint);
  return {
    ...(region !== undefined ? { region } : {}),
    ...(dynamodbEndpoint !== undefined ? { dynamodbEndpoint } : {}),
    ...(s3Endpoint !== undefined ? { s3Endpoint } : {}),
  };
}

/**
 * DynamoDB only, for the handlers that never touch S3 (task events, reconciliation): importing
 * `createDataClients` would bundle the S3 client (~100 KB) into them. Same options as
 * lib/aws/clients.ts.
 */
export function createDocClient(
  endpoints: ReturnType<typeof endpointsFromEnv>,
): DynamoDBDocumentClient {
  const dynamodb = new DynamoDBClient({
    region: endpoints.region ?? "us-east-1",
    ...(endpoints.dynamodbEndpoint
      ? {
          endpoint: endpoints.dynamodbEndpoint,
          // Local servers accept any credentials.
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }
      : {}),
  });
  return DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
}

export function authModeFromEnv(env: Env): "iam" | "jwt" {
  const mode = (optionalEnv(env, FUNCTION_ENV.apiAuthMode) ?? "iam").toLowerCase();
  if (mode !== "iam" && mode !== "jwt") {
    throw new ConfigurationError(
      `${FUNCTION_ENV.apiAuthMode} must be "iam" or "jwt", got "${mode}"`,
    );
  }
  return mode;
}

export function minutesFromEnv(env: Env, name: string, fallback: number): number {
  const raw = optionalEnv(env, name);
  if (raw === undefined) return fallback;
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0) {
    throw new ConfigurationError(`${name} must be a positive number of minutes, got "${raw}"`);
  }
  return minutes;
}

export { FUNCTION_ENV, HANDLER_ENV, LAUNCHER_ENV, PLATFORM_ENV };
