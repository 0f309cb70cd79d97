/** Points the handlers' module-scope configuration at the test servers, and restores it after. */
import type { TestEnv } from "../support/local-servers";

export function handlerEnv(
  env: TestEnv,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
    DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
    DAGY_FLOWS_TABLE: env.tables.flows,
    DAGY_RUNS_TABLE: env.tables.runs,
    DAGY_DEPLOYMENTS_TABLE: env.tables.deployments,
    DAGY_DEP_PACKAGES_TABLE: env.tables.depPackages,
    DAGY_ARTIFACT_BUCKET: env.buckets.artifacts,
    DAGY_TRACES_BUCKET: env.buckets.traces,
    DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
    DAGY_ECS_EXECUTION_ROLE_ARN: "arn:aws:iam::123456789012:role/ecs-exec-role",
    DAGY_ECS_TASK_ROLE_ARN: "arn:aws:iam::123456789012:role/ecs-task-role",
    DAGY_ECS_WORKER_IMAGE: "123456789012.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:latest",
    DAGY_ECS_SUBNETS: "subnet-12345,subnet-67890",
    DAGY_ECS_SECURITY_GROUPS: "sg-12345",
    DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker",
    DAGY_ECS_TASK_DEFINITION: "dagy-worker",
    DAGY_ECS_CONTAINER_NAME: "worker",
    DAGY_ENVIRONMENT: "production",
    DAGY_API_AUTH_MODE: "iam",
    ...extra,
  };
}

/** Sets the variables; returns a function restoring the previous values. */
export function setEnv(values: Record<string, string>): () => void {
  const previous = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  return () => {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
