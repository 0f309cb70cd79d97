/**
 * Fargate task sizes: the valid cpu/memory pairs (the guide's table, which is AWS's), workload
 * profiles and ephemeral storage limits, and the one function that turns a launch request's
 * resource fields into the size a task is started with.
 */
import { InvalidLaunchRequestError } from "../errors";
import { WORKLOAD_PROFILES, type CapacityProvider, type WorkloadProfile } from "./types";

/** Memory (MiB) allowed for one CPU value (units): an explicit list or an inclusive stepped range. */
export type FargateMemoryRule =
  | { readonly kind: "list"; readonly values: readonly number[] }
  | { readonly kind: "range"; readonly min: number; readonly max: number; readonly step: number };

/** Keyed by CPU units as a string, the way ECS takes them. */
export const FARGATE_CPU_MEMORY: Readonly<Record<string, FargateMemoryRule>> = {
  "256": { kind: "list", values: [512, 1024, 2048] },
  "512": { kind: "range", min: 1024, max: 4096, step: 1024 },
  "1024": { kind: "range", min: 2048, max: 8192, step: 1024 },
  "2048": { kind: "range", min: 4096, max: 16384, step: 1024 },
  "4096": { kind: "range", min: 8192, max: 30720, step: 1024 },
  "8192": { kind: "range", min: 16384, max: 61440, step: 4096 },
  "16384": { kind: "range", min: 32768, max: 122880, step: 8192 },
};

export const FARGATE_CPU_VALUES: readonly string[] = Object.keys(FARGATE_CPU_MEMORY);

/** ECS accepts 21–200 GiB; Fargate's built-in 20 GiB is what you get without an override. */
export const EPHEMERAL_STORAGE_MIN_GIB = 21;
export const EPHEMERAL_STORAGE_MAX_GIB = 200;
export const DEFAULT_EPHEMERAL_STORAGE_GIB = 21;

export const CAPACITY_PROVIDERS: readonly CapacityProvider[] = ["FARGATE", "FARGATE_SPOT"];
export const WORKLOAD_PROFILE_NAMES = Object.keys(WORKLOAD_PROFILES) as WorkloadProfile[];

/** Digits only, no sign, no leading zero: "2048", not "2048.0", " 2048" or "02048". */
const UNSIGNED_INTEGER = /^[1-9][0-9]*$/;

export function isValidFargatePair(cpu: string, memory: string): boolean {
  const rule = FARGATE_CPU_MEMORY[cpu];
  if (!rule || !UNSIGNED_INTEGER.test(memory)) return false;
  const mib = Number(memory);
  if (rule.kind === "list") return rule.values.includes(mib);
  return mib >= rule.min && mib <= rule.max && (mib - rule.min) % rule.step === 0;
}

/** Human description of the memory allowed with `cpu`, for error messages. */
export function describeFargateMemory(cpu: string): string {
  const rule = FARGATE_CPU_MEMORY[cpu];
  if (!rule) return `cpu must be one of ${FARGATE_CPU_VALUES.join(", ")}`;
  if (rule.kind === "list")
    return `with cpu ${cpu}, memory must be one of ${rule.values.join(", ")}`;
  return `with cpu ${cpu}, memory must be ${rule.min}-${rule.max} in steps of ${rule.step}`;
}

export interface ResourceRequest {
  readonly workloadProfile?: WorkloadProfile;
  readonly cpu?: string;
  readonly memory?: string;
  readonly ephemeralStorageGib?: number;
  readonly capacityProvider?: CapacityProvider;
}

export interface TaskResources {
  readonly cpu: string;
  readonly memory: string;
  readonly ephemeralStorageGib: number;
  readonly capacityProvider: CapacityProvider;
  /** The profile the size came from; absent for explicit cpu/memory. */
  readonly workloadProfile?: WorkloadProfile;
  /**
   * Send the size as RunTask overrides. False when the request named no size and the task
   * definition is known to have the default's size: the task definition's size then applies.
   */
  readonly overrideSize: boolean;
}

/** A problem with one field, named as the caller named it. */
export interface FieldProblem {
  readonly field: keyof ResourceRequest;
  readonly message: string;
}

/**
 * Checks the resource fields together. Returns every problem; an empty list means valid.
 * A profile and an explicit size together are refused rather than silently preferring one.
 */
export function checkResources(request: ResourceRequest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { workloadProfile, cpu, memory, ephemeralStorageGib, capacityProvider } = request;
  if (workloadProfile !== undefined && !Object.hasOwn(WORKLOAD_PROFILES, workloadProfile)) {
    problems.push({
      field: "workloadProfile",
      message: `unknown workload profile "${String(workloadProfile)}"; allowed: ${WORKLOAD_PROFILE_NAMES.join(", ")}`,
    });
  }
  if (workloadProfile !== undefined && (cpu !== undefined || memory !== undefined)) {
    problems.push({
      field: cpu !== undefined ? "cpu" : "memory",
      message:
        "give either a workload profile or explicit cpu and memory, not both (neither would win silently)",
    });
  } else if (cpu !== undefined && memory === undefined) {
    problems.push({
      field: "memory",
      message: `memory is required with cpu (${describeFargateMemory(cpu)})`,
    });
  } else if (cpu === undefined && memory !== undefined) {
    problems.push({
      field: "cpu",
      message: `cpu is required with memory; allowed cpu: ${FARGATE_CPU_VALUES.join(", ")}`,
    });
  } else if (cpu !== undefined && memory !== undefined) {
    if (!FARGATE_CPU_MEMORY[cpu]) {
      problems.push({
        field: "cpu",
        message: `"${cpu}" is not a Fargate cpu value; allowed: ${FARGATE_CPU_VALUES.join(", ")}`,
      });
    } else if (!isValidFargatePair(cpu, memory)) {
      problems.push({
        field: "memory",
        message: `"${memory}" is not a valid Fargate memory for cpu ${cpu}: ${describeFargateMemory(cpu)}`,
      });
    }
  }
  if (
    ephemeralStorageGib !== undefined &&
    (!Number.isInteger(ephemeralStorageGib) ||
      ephemeralStorageGib < EPHEMERAL_STORAGE_MIN_GIB ||
      ephemeralStorageGib > EPHEMERAL_STORAGE_MAX_GIB)
  ) {
    problems.push({
      field: "ephemeralStorageGib",
      message: `must be an integer from ${EPHEMERAL_STORAGE_MIN_GIB} to ${EPHEMERAL_STORAGE_MAX_GIB} (GiB), got ${String(ephemeralStorageGib)}`,
    });
  }
  if (capacityProvider !== undefined && !CAPACITY_PROVIDERS.includes(capacityProvider)) {
    problems.push({
      field: "capacityProvider",
      message: `must be one of ${CAPACITY_PROVIDERS.join(", ")}, got "${String(capacityProvider)}"`,
    });
  }
  return problems;
}

/**
 * The size a task starts with. Throws InvalidLaunchRequestError (naming the field) when the
 * fields are inconsistent. Without a profile or explicit size, `defaultProfile` applies; when
 * `defaultSizesTaskDefinition` (the stack's task definition is sized by that profile), no size
 * override is sent for it, so an environment's size is the task definition's.
 */
export function resolveResources(
  request: ResourceRequest,
  defaultProfile: WorkloadProfile = "medium",
  defaultSizesTaskDefinition = false,
): TaskResources {
  const [problem] = checkResources(request);
  if (problem)
    throw new InvalidLaunchRequestError(`${problem.field}: ${problem.message}`, problem.field);
  const ephemeralStorageGib = request.ephemeralStorageGib ?? DEFAULT_EPHEMERAL_STORAGE_GIB;
  const capacityProvider = request.capacityProvider ?? "FARGATE";
  if (request.cpu !== undefined && request.memory !== undefined) {
    return {
      cpu: request.cpu,
      memory: request.memory,
      ephemeralStorageGib,
      capacityProvider,
      overrideSize: true,
    };
  }
  const workloadProfile = request.workloadProfile ?? defaultProfile;
  const size = WORKLOAD_PROFILES[workloadProfile];
  return {
    cpu: size.cpu,
    memory: size.memory,
    ephemeralStorageGib,
    capacityProvider,
    workloadProfile,
    overrideSize: request.workloadProfile !== undefined || !defaultSizesTaskDefinition,
  };
}
