export type {
  ReconcileAction,
  ReconcileOutcome,
  StoppedTask,
  SweepReport,
  TaskInspector,
  TaskObservation,
} from "./types";
export {
  DEFAULT_QUEUED_AFTER_MS,
  DEFAULT_RUNNING_AFTER_MS,
  reconcileStoppedTask,
  sweepStaleRuns,
  type ReconcileDependencies,
  type RelaunchRun,
  type ReconcileRunStore,
  type SweepOptions,
} from "./service";
export {
  DEFAULT_WORKER_CONTAINER,
  parseEcsTaskStateChange,
  reconcileEcsTaskEvent,
  type EcsEventOutcome,
  runIdFromOverrides,
  stoppedTaskFromEcsDetail,
  type EcsContainerDetail,
  type EcsTaskDetail,
  type EcsTaskStateChangeEvent,
} from "./ecs-event";
export { DESCRIBE_TASKS_BATCH, EcsTaskInspector } from "./ecs-inspector";
export { cancelledMessage, failureMessage, stopReason } from "./messages";
export {
  cancelChildrenOfSettledRun,
  cancelOrphanedChildren,
  type ChildCancelDependencies,
} from "./children";
export {
  DEFAULT_MAX_RELAUNCHES,
  DEFAULT_START_TIMEOUT_MS,
  SPOT_FALLBACK_AFTER,
  START_TIMEOUT_STOP_CODE,
  decide,
  nextLargerProfile,
  relaunchCause,
  type HealDecision,
  type NextAttempt,
  type RelaunchCause,
} from "./heal";
export {
  fallBackToCold,
  handleWarmFallbackEvent,
  parseWarmFallbackBody,
  settleStaleWarmDispatch,
  type SqsBatchResponse,
  type WarmFallbackAction,
  type WarmFallbackDependencies,
  type WarmFallbackOutcome,
  type WarmFallbackRequest,
} from "./warm-fallback";
