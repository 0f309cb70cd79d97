/**
 * Starts one Fargate task per run with RunTask, and stops it with StopTask.
 *
 * - Throttling (including ECS's `InvalidParameterException: Rate exceeded`) and server errors
 *   are retried with exponential backoff and full jitter, with the SAME clientToken (the run
 *   id) on every attempt, so ECS starts at most one task however often we retry.
 * - A 200 response with `failures[]` and no task (no capacity, no ENI, agent trouble) is
 *   retried with its own, longer backoff; a fresh clientToken is used per capacity attempt
 *   because no task exists and ECS may replay a token's cached answer. Other failures
 *   (MISSING or INACTIVE task definition, bad attributes) fail at once.
 * - RunTask overrides cannot carry secrets, so a run with `secretsEnv` uses a task definition
 *   revision whose container declares `secrets: [{name, valueFrom}]`: one family per distinct
 *   secret set (`<base>-s-<hash>`), registered once and reused, never one per run.
 * - With a WarmDispatcher (./warm-dispatch), a run a warm pool fits is handed to an idle
 *   worker instead (`warm:<pool>:<runId>`, startMode `warm`); when none is idle, or the
 *   hand-over fails, it starts cold as above.
 */
import {
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
  type ECSClient,
  type Failure,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Secret,
  type Tag,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import { WORKER_CONTAINER_NAME } from "../config/worker-container";
import { ConfigurationError } from "../errors";
import { sha256Hex } from "../hash";
import { TaskSubmissionError } from "./errors";
import { backoffDelay, realSleep, withRetries, type RetryPolicy, type Sleep } from "../retry";
import type { ComputeBackend, SubmitOptions, SubmitResult, WorkerLaunchSpec } from "./types";
import { buildTaskOverrides } from "./worker-spec";
import { isWarmTaskArn } from "../persistence/warm-pools";
import type { WarmDispatcher } from "./warm-dispatch";

/** `startedBy` of every Dagy task: `ListTasks(startedBy="dagy")` finds them all. */
export const ECS_STARTED_BY = "dagy";
/** The worker container's name unless configured otherwise (the one definition is lib/config). */
export { WORKER_CONTAINER_NAME as DEFAULT_CONTAINER_NAME };
/** Docker labels recording what a derived (secrets) revision was built from. */
export const BASE_TASK_DEFINITION_LABEL = "dagy.base-task-definition";
export const SECRET_SET_LABEL = "dagy.secret-set";

export const DEFAULT_THROTTLE_RETRY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
};
export const DEFAULT_CAPACITY_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 2_000,
  maxDelayMs: 20_000,
};

export interface EcsBackendOptions {
  readonly ecs: ECSClient;
  readonly clusterArn: string;
  /**
   * Family, `family:revision` or ARN of the worker task definition: the stack's, built in one
   * place with the image, architecture, roles and log group. Required; runs with secrets use
   * revisions cloned from it.
   */
  readonly taskDefinition: string;
  /** Default `worker`. */
  readonly containerName?: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /** Default DISABLED: workers reach AWS through the VPC's NAT or endpoints. */
  readonly assignPublicIp?: "ENABLED" | "DISABLED";
  /** Sent as task overrides when given, so configuration wins over the task definition. */
  readonly taskRoleArn?: string;
  readonly taskExecutionRoleArn?: string;
  readonly throttleRetry?: Partial<RetryPolicy>;
  readonly capacityRetry?: Partial<RetryPolicy>;
  /** Injected in tests so retries take no time. */
  readonly sleep?: Sleep;
  readonly random?: () => number;
  /** How long a described base task definition is trusted. Default 5 minutes. */
  readonly taskDefinitionCacheMs?: number;
  readonly now?: () => number;
  /** Warm pools on Fargate: unset, every run starts its own task. */
  readonly warm?: Pick<WarmDispatcher, "dispatch">;
}

/** Failure reasons worth retrying: the task could run later or in another AZ. */
const CAPACITY_REASONS = [/^RESOURCE:/i, /capacity/i, /^AGENT$/i, /network interface/i, /timeout/i];

export function isCapacityFailure(failure: Failure): boolean {
  const reason = `${failure.reason ?? ""} ${failure.detail ?? ""}`.trim();
  return CAPACITY_REASONS.some((re) => re.test(reason) || re.test(failure.reason ?? ""));
}

function describeFailures(failures: readonly Failure[]): string[] {
  return failures.map((f) =>
    [f.reason ?? "unknown reason", f.detail, f.arn ? `(${f.arn})` : undefined]
      .filter((s) => s !== undefined && s !== "")
      .join(" "),
  );
}

/** ECS tag values: letters, digits, spaces and `_ . : / = + - @`, at most 256 characters. */
export function sanitizeTagValue(value: string): string {
  return value.replace(/[^\p{L}\p{N}\p{Z}_.:/=+\-@]/gu, "_").slice(0, 256);
}

function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? "";
}
function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `family` of `family`, `family:revision` or a task definition ARN. */
function familyOf(taskDefinition: string): string {
  return (taskDefinition.split("/").pop() ?? taskDefinition).split(":")[0] ?? taskDefinition;
}

interface CacheEntry<T> {
  readonly value: Promise<T>;
  readonly expiresAt: number;
}

export class EcsBackend implements ComputeBackend {
  private readonly ecs: ECSClient;
  private readonly containerName: string;
  private readonly throttleRetry: RetryPolicy;
  private readonly capacityRetry: RetryPolicy;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private baseCache?: CacheEntry<TaskDefinition>;
  /** Derived (secrets) task definition ARN by `<base ARN>|<family>`. */
  private readonly derivedCache = new Map<string, Promise<string>>();

  constructor(private readonly options: EcsBackendOptions) {
    this.ecs = options.ecs;
    this.containerName = options.containerName ?? WORKER_CONTAINER_NAME;
    this.throttleRetry = { ...DEFAULT_THROTTLE_RETRY, ...options.throttleRetry };
    this.capacityRetry = { ...DEFAULT_CAPACITY_RETRY, ...options.capacityRetry };
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.cacheMs = options.taskDefinitionCacheMs ?? 5 * 60_000;
    if (!options.clusterArn) throw new ConfigurationError("EcsBackend: clusterArn is required");
    if (!options.taskDefinition) {
      throw new ConfigurationError(
        "EcsBackend: taskDefinition is required (DAGY_ECS_TASK_DEFINITION, the stack's worker task definition)",
      );
    }
    if (options.subnets.length === 0) {
      throw new ConfigurationError("EcsBackend: at least one subnet is required");
    }
  }

  /** The exact RunTask input for a run, without the clientToken. */
  buildRunTaskInput(spec: WorkerLaunchSpec, taskDefinition: string): RunTaskCommandInput {
    const tags: Tag[] = [
      { key: "dagy:run-id", value: sanitizeTagValue(spec.runId) },
      { key: "dagy:org-id", value: sanitizeTagValue(spec.orgId) },
      { key: "dagy:flow-name", value: sanitizeTagValue(spec.flowName) },
    ];
    return {
      cluster: this.options.clusterArn,
      taskDefinition,
      count: 1,
      // A capacity provider strategy and a launch type are mutually exclusive in RunTask.
      ...(spec.capacityProvider === "FARGATE_SPOT"
        ? { capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }] }
        : { launchType: "FARGATE" as const }),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: [...this.options.subnets],
          securityGroups: [...this.options.securityGroups],
          assignPublicIp: this.options.assignPublicIp ?? "DISABLED",
        },
      },
      overrides: buildTaskOverrides(spec, {
        containerName: this.containerName,
        ...(this.options.taskRoleArn !== undefined
          ? { taskRoleArn: this.options.taskRoleArn }
          : {}),
        ...(this.options.taskExecutionRoleArn !== undefined
          ? { executionRoleArn: this.options.taskExecutionRoleArn }
          : {}),
      }),
      tags,
      // The task definition's tags (the stack's: app, environment, cost tags) reach the task.
      propagateTags: "TASK_DEFINITION",
      enableECSManagedTags: true,
      startedBy: ECS_STARTED_BY,
    };
  }

  async submit(spec: WorkerLaunchSpec, options: SubmitOptions = {}): Promise<SubmitResult> {
    const { deadline } = options;
    const warm = await this.options.warm?.dispatch(spec);
    if (warm) return warm;
    const taskDefinition = await this.taskDefinitionFor(spec.secretsEnv);
    const input = this.buildRunTaskInput(spec, taskDefinition);
    let reasons: string[] = [];
    let capacityOnly = false;
    for (
      let capacityAttempt = 1;
      capacityAttempt <= this.capacityRetry.maxAttempts;
      capacityAttempt++
    ) {
      // ECS clientToken: up to 64 ASCII characters; the run id is 36.
      const clientToken = capacityAttempt === 1 ? spec.runId : `${spec.runId}-c${capacityAttempt}`;
      let out: RunTaskCommandOutput;
      try {
        out = await this.send(
          () => this.ecs.send(new RunTaskCommand({ ...input, clientToken })),
          deadline,
        );
      } catch (error) {
        throw new TaskSubmissionError(`ECS RunTask failed: ${errorMessage(error)}`, [], {
          cause: error,
        });
      }
      const taskArn = out.tasks?.[0]?.taskArn;
      if (taskArn) return { taskArn, startMode: "cold" };
      const failures = out.failures ?? [];
      reasons = describeFailures(failures);
      capacityOnly = failures.length > 0 && failures.every(isCapacityFailure);
      if (!capacityOnly) break;
      if (capacityAttempt < this.capacityRetry.maxAttempts) {
        const delay = backoffDelay(this.capacityRetry, capacityAttempt, this.random);
        if (deadline !== undefined && this.now() + delay > deadline) {
          throw new TaskSubmissionError(
            `ECS could not place the task within the request's time budget (${capacityAttempt} attempts): ${reasons.join("; ")}`,
            reasons,
          );
        }
        await this.sleep(delay);
      }
    }
    throw new TaskSubmissionError(
      capacityOnly
        ? `ECS could not place the task after ${this.capacityRetry.maxAttempts} attempts: ${reasons.join("; ")}`
        : `ECS refused the task: ${reasons.join("; ") || "no task and no failure reason returned"}`,
      reasons,
    );
  }

  async stop(taskArn: string, reason: string): Promise<void> {
    // A warm dispatch nobody claimed yet has no task: the run is cancelled in the table, and
    // the worker that receives the assignment finds it not QUEUED and leaves it alone.
    if (isWarmTaskArn(taskArn)) return;
    try {
      await this.send(() =>
        this.ecs.send(
          new StopTaskCommand({
            cluster: this.options.clusterArn,
            task: taskArn,
            // StopTask's reason is limited to 255 characters.
            reason: reason.slice(0, 255),
          }),
        ),
      );
    } catch (error) {
      // Stopping a task that is gone already is not an error for the caller.
      if (/task was not found|not found/i.test(errorMessage(error))) return;
      throw error;
    }
  }

  private send<T>(call: () => Promise<T>, deadline?: number): Promise<T> {
    return withRetries(call, this.throttleRetry, {
      sleep: this.sleep,
      random: this.random,
      now: this.now,
      ...(deadline !== undefined ? { deadline } : {}),
    });
  }

  /** The task definition a run uses: the base one, or its revision for the run's secret set. */
  private async taskDefinitionFor(secretsEnv: Readonly<Record<string, string>>): Promise<string> {
    const names = Object.keys(secretsEnv);
    if (names.length === 0) return this.options.taskDefinition;
    const base = await this.describeBase();
    return this.derivedTaskDefinition(base, secretsEnv);
  }

  private async describeBase(): Promise<TaskDefinition> {
    const now = this.now();
    if (this.baseCache && this.baseCache.expiresAt > now) return this.baseCache.value;
    const value = (async () => {
      const name = this.options.taskDefinition;
      const found = await this.describe(name);
      if (!found) {
        throw new ConfigurationError(
          `ECS task definition ${name} was not found (DAGY_ECS_TASK_DEFINITION)`,
        );
      }
      return found;
    })();
    this.baseCache = { value, expiresAt: now + this.cacheMs };
    value.catch(() => {
      this.baseCache = undefined;
    });
    return value;
  }

  /** DescribeTaskDefinition; undefined when there is no such family or revision. */
  private async describe(taskDefinition: string): Promise<TaskDefinition | undefined> {
    try {
      const out = await this.send(() =>
        this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition })),
      );
      return out.taskDefinition;
    } catch (error) {
      // ECS answers an unknown family with ClientException "Unable to describe task definition".
      if (errorName(error) === "ClientException" && !/rate exceeded/i.test(errorMessage(error))) {
        return undefined;
      }
      throw error;
    }
  }

  private derivedTaskDefinition(
    base: TaskDefinition,
    secretsEnv: Readonly<Record<string, string>>,
  ): Promise<string> {
    const secrets: Secret[] = Object.keys(secretsEnv)
      .sort()
      .map((name) => ({ name, valueFrom: secretsEnv[name] ?? "" }));
    const hash = sha256Hex(JSON.stringify(secrets)).slice(0, 16);
    const family = `${base.family ?? familyOf(this.options.taskDefinition)}-s-${hash}`;
    const baseArn = base.taskDefinitionArn ?? "";
    const key = `${baseArn}|${family}`;
    const cached = this.derivedCache.get(key);
    if (cached) return cached;
    const pending = (async () => {
      const existing = await this.describe(family);
      if (existing?.status === "ACTIVE" && this.matches(existing, baseArn, hash, secrets)) {
        return existing.taskDefinitionArn ?? family;
      }
      const out = await this.send(() =>
        this.ecs.send(
          new RegisterTaskDefinitionCommand(this.derivedInput(base, family, hash, secrets)),
        ),
      );
      return out.taskDefinition?.taskDefinitionArn ?? family;
    })();
    this.derivedCache.set(key, pending);
    pending.catch(() => this.derivedCache.delete(key));
    return pending;
  }

  private matches(def: TaskDefinition, baseArn: string, hash: string, secrets: Secret[]): boolean {
    const container = def.containerDefinitions?.find((c) => c.name === this.containerName);
    if (!container) return false;
    const labels = container.dockerLabels ?? {};
    if (labels[BASE_TASK_DEFINITION_LABEL] !== baseArn || labels[SECRET_SET_LABEL] !== hash) {
      return false;
    }
    const declared = new Map((container.secrets ?? []).map((s) => [s.name, s.valueFrom]));
    return secrets.every((s) => declared.get(s.name) === s.valueFrom);
  }

  /** The base task definition, copied, with the secrets added to the worker container. */
  derivedInput(
    base: TaskDefinition,
    family: string,
    hash: string,
    secrets: Secret[],
  ): RegisterTaskDefinitionCommandInput {
    const containers = base.containerDefinitions ?? [];
    if (!containers.some((c) => c.name === this.containerName)) {
      throw new ConfigurationError(
        `task definition ${base.taskDefinitionArn ?? family} has no container named "${this.containerName}" (DAGY_ECS_CONTAINER_NAME)`,
      );
    }
    if (!base.executionRoleArn && !this.options.taskExecutionRoleArn) {
      throw new ConfigurationError(
        "secrets_env needs a task execution role allowed to read the secrets (DAGY_ECS_EXECUTION_ROLE_ARN)",
      );
    }
    const names = new Set(secrets.map((s) => s.name));
    const containerDefinitions: ContainerDefinition[] = containers.map((c) =>
      c.name !== this.containerName
        ? c
        : {
            ...c,
            secrets: [...(c.secrets ?? []).filter((s) => !names.has(s.name ?? "")), ...secrets],
            dockerLabels: {
              ...(c.dockerLabels ?? {}),
              [BASE_TASK_DEFINITION_LABEL]: base.taskDefinitionArn ?? "",
              [SECRET_SET_LABEL]: hash,
            },
          },
    );
    const input: RegisterTaskDefinitionCommandInput = { family, containerDefinitions };
    const copy = <K extends keyof RegisterTaskDefinitionCommandInput & keyof TaskDefinition>(
      key: K,
    ): void => {
      const value = base[key];
      if (value !== undefined) (input as unknown as Record<string, unknown>)[key] = value;
    };
    copy("taskRoleArn");
    copy("executionRoleArn");
    copy("networkMode");
    copy("volumes");
    copy("placementConstraints");
    copy("requiresCompatibilities");
    copy("cpu");
    copy("memory");
    copy("pidMode");
    copy("ipcMode");
    copy("proxyConfiguration");
    copy("runtimePlatform");
    copy("ephemeralStorage");
    return input;
  }
}
