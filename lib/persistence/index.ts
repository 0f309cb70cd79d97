/** `dagy/persistence`: the four models over DynamoDB, registration services and validation. */
export * from "./schema";
export * from "./records";
export * from "../identifiers";
export { Persistence, type PersistenceOptions } from "./persistence";
export {
  FlowRepository,
  LATEST,
  compareFlowVersions,
  isSemverVersion,
  pickLatest,
  type FlowSummary,
} from "./flows";
export {
  RunRepository,
  IDEMPOTENCY_TTL_SECONDS,
  MAX_TASK_ERROR_CHARS,
  MAX_TASK_STATES_PER_UPDATE,
  compactTaskState,
  defaultPersistenceLogger,
  type ActiveRunQuery,
  type IdempotencyClaim,
  type PersistenceLogger,
  type RunListQuery,
  type RunPage,
} from "./runs";
export {
  IdempotencyRepository,
  type IdempotencyRecord,
  type IdempotencyStatus,
} from "./idempotency";
export { TaskStateRepository } from "./task-states";
export { DeploymentRepository } from "./deployments";
export { DepPackageRepository, mayUsePackage } from "./dep-packages";
export {
  registerDepPackage,
  registerFlow,
  readArtifactSpec,
  type RegisterDepPackageOptions,
  type RegisterFlowOptions,
} from "./registry";
export {
  DepPackageModel,
  DeploymentModel,
  FlowModel,
  RunModel,
  configurePersistence,
  defaultPersistence,
  persistenceFromEnv,
  type DepPackageModelFields,
  type DeploymentModelFields,
  type FlowModelFields,
} from "./models";
