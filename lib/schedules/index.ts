export type { LaunchEventInput, Schedule, ScheduleDefinition, ScheduleService } from "./types";
export {
  EventBridgeScheduleService,
  SCHEDULE_TARGET_ID,
  type EventBridgeScheduleServiceOptions,
} from "./eventbridge";
export {
  buildLaunchEvent,
  handleLaunchEvent,
  launchResultToWire,
  parseLaunchEvent,
  type LaunchEventDependencies,
  type LaunchEventResult,
} from "./launch-event";
export {
  isUtc,
  MAX_INPUT_CHARS,
  MAX_RESOURCE_NAME,
  parseLaunchEventInput,
  SCHEDULE_NAME_PATTERN,
  validateScheduleDefinition,
} from "./validate";
