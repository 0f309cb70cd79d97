/**
 * Environment variables the stack sets on the Lambda functions beyond the launcher's
 * `LAUNCHER_ENV` / `PLATFORM_ENV` (lib/config/env.ts). Handlers read them at their entry point.
 *
 * CDK-free on purpose: handlers import it.
 */
import { PLATFORM_ENV, WORKER_ENV } from "../config/env";

export const FUNCTION_ENV = {
  /** `develop` | `staging` | `production`: the environment launches default to. */
  environment: WORKER_ENV.environment,
  /** Always `ecs` in AWS. */
  computeBackend: PLATFORM_ENV.computeBackend,
  /** `iam` or `jwt`: how the API learns the caller (IAM: org from the request; JWT: from a claim). */
  apiAuthMode: "DAGY_API_AUTH_MODE",
  /** JWT claim holding the caller's org id (JWT mode only). */
  apiOrgClaim: "DAGY_API_ORG_CLAIM",
  /**
   * Name prefix of the EventBridge rules the API may create for runtime schedules
   * (`<appName>-<env>-`). Rules outside it are not the API's to touch.
   */
  scheduleRulePrefix: "DAGY_SCHEDULE_RULE_PREFIX",
  /** Target of runtime schedule rules: the launch function's ARN. */
  launchFunctionArn: "DAGY_LAUNCH_FUNCTION_ARN",
} as const;
