/** DagLauncher options from the one runtime configuration (lib/config/runtime.ts). */
import type { RuntimeConfig } from "../config/runtime";
import type { DagLauncherOptions } from "./launcher-options";

export function launcherOptionsFromConfig(config: RuntimeConfig): DagLauncherOptions {
  const { ecs } = config;
  return {
    ...(ecs.clusterArn !== undefined ? { clusterArn: ecs.clusterArn } : {}),
    ...(ecs.taskExecutionRoleArn !== undefined
      ? { taskExecutionRoleArn: ecs.taskExecutionRoleArn }
      : {}),
    ...(ecs.taskRoleArn !== undefined ? { taskRoleArn: ecs.taskRoleArn } : {}),
    ...(ecs.workerImage !== undefined ? { workerImage: ecs.workerImage } : {}),
    subnets: ecs.subnets,
    securityGroups: ecs.securityGroups,
    ...(ecs.logGroup !== undefined ? { logGroup: ecs.logGroup } : {}),
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.artifactBucket !== undefined ? { artifactBucket: config.artifactBucket } : {}),
    ...(config.tracesBucket !== undefined ? { tracesBucket: config.tracesBucket } : {}),
    tables: config.tables,
    ...(config.maxRelaunches !== undefined ? { maxRelaunches: config.maxRelaunches } : {}),
    ...(ecs.taskDefinition !== undefined ? { taskDefinition: ecs.taskDefinition } : {}),
    ...(ecs.containerName !== undefined ? { containerName: ecs.containerName } : {}),
    ...(config.endpoints.dynamodb !== undefined
      ? { dynamodbEndpoint: config.endpoints.dynamodb }
      : {}),
    ...(config.endpoints.s3 !== undefined ? { s3Endpoint: config.endpoints.s3 } : {}),
    computeBackend: config.computeBackend,
    ...(config.defaultWorkloadProfile !== undefined
      ? { defaultWorkloadProfile: config.defaultWorkloadProfile }
      : {}),
    ...(config.localSecretsFile !== undefined
      ? { local: { secretsFile: config.localSecretsFile } }
      : {}),
  };
}
