/** The embedded platform's public shapes: its options, what it returns, and its timings. */
import type { Api } from "../api";
import type { DataClients } from "../aws/clients";
import type { DagLauncher } from "../launcher/dag-launcher";
import type { LocalBackend } from "../launcher/local-backend";
import type { Persistence } from "../persistence/persistence";
import type { TableNames } from "../persistence/schema";
import type { LaunchEventResult } from "../schedules/launch-event";
import type { LaunchEventInput } from "../schedules/types";
import type { Services } from "../services";
import type { ObjectStore } from "../storage/object-store";
import type { RegistrationOutcome } from "./registration";
import type { Clock, LocalScheduleService } from "./scheduler";

export interface LocalPlatformOptions {
  /** Where the platform keeps its data. Default `<cwd>/.dagy`. */
  readonly dataDir?: string;
  /** Working directory of workers (relative paths in parameters resolve here). Default: process cwd. */
  readonly cwd?: string;
  /** Default 127.0.0.1. The API has no authentication: keep it on the machine. */
  readonly host?: string;
  /** Default 8787; 0 picks a free port. */
  readonly port?: number;
  /** Workers running at once; more runs wait QUEUED. Default 4. */
  readonly concurrency?: number;
  /**
   * Idle warm workers kept per worker size, each ready to take a run in milliseconds (issue
   * #14). Default 2; 0 disables the pool (every run starts a new worker process).
   */
  readonly warm?: number;
  /** Register the example flows (`<package>/examples/flows/*.ts`). Default true. */
  readonly registerExamples?: boolean;
  /** Folder of flows registered at start. Default `<package>/examples/flows`. */
  readonly examplesDir?: string;
  /**
   * The user's flows (absolute paths), registered at start instead of the examples, built with
   * `flowsRoot` (default: `cwd`) as the base of their `metadata.source`.
   */
  readonly flowFiles?: readonly string[];
  readonly flowsRoot?: string;
  /** Org the examples are registered for. Default `acme-corp`. */
  readonly orgId?: string;
  /** argv of a worker. Default: the bundled worker (built once, cached under .dagy/build). */
  readonly workerCommand?: readonly string[];
  /** Fire schedules on their timer. Default true; tests drive `schedules.tick()` instead. */
  readonly startScheduler?: boolean;
  /** The schedules' clock. Default: the system clock. */
  readonly clock?: Clock;
  /** Human-readable progress lines (no trailing newline). Default: discarded. */
  readonly log?: (line: string) => void;
  /** Log each HTTP request. Default false. */
  readonly accessLog?: boolean;
  /** SIGTERM-to-SIGKILL grace for workers. Default 5 s. */
  readonly stopGraceMs?: number;
  /**
   * Delete the stores, logs and schedules first and start empty (`dagy dev --reset`). Without
   * it, a data directory whose stores are missing or damaged is refused, never emptied.
   */
  readonly reset?: boolean;
}

export interface ExampleRegistration {
  /** The flow file, relative to the package root. */
  readonly file: string;
  readonly flowName?: string;
  readonly version?: string;
  readonly status: RegistrationOutcome["status"] | "failed";
  readonly message?: string;
}

export interface PlatformTimings {
  /** dynalite + s3rver listening, tables and buckets present. */
  readonly storesMs: number;
  /** Worker bundle ready (cached or built). */
  readonly workerMs: number;
  /** Example flows built and registered. */
  readonly examplesMs: number;
  /** From the call to the API answering. */
  readonly readyMs: number;
}

export interface LocalPlatform {
  /** e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly dataDir: string;
  readonly cwd: string;
  readonly orgId: string;
  readonly endpoints: { readonly dynamodbEndpoint: string; readonly s3Endpoint: string };
  readonly tables: TableNames;
  readonly buckets: { readonly artifacts: string; readonly traces: string };
  readonly logDir: string;
  readonly secretsFile: string;
  readonly secretCount: number;
  readonly concurrency: number;
  /** Idle warm workers kept per worker size (0: none). */
  readonly warm: number;
  readonly clients: DataClients;
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly launcher: DagLauncher;
  readonly backend: LocalBackend;
  readonly schedules: LocalScheduleService;
  readonly api: Api;
  /** The use cases behind `api`, for front doors with another authorizer (tests of the CLI). */
  readonly services: Services;
  readonly examples: readonly ExampleRegistration[];
  /** Runs a previous session left QUEUED/RUNNING, now closed as FAILED. */
  readonly recoveredRuns: readonly string[];
  readonly timings: PlatformTimings;
  /** Delivers a launch event as EventBridge delivers it to the launch Lambda. */
  launchEvent(input: LaunchEventInput): Promise<LaunchEventResult>;
  /** Resolves once every reconciliation started so far has finished. */
  settled(): Promise<void>;
  /** Stops the API, the scheduler and every worker, then the stores. Idempotent. */
  close(): Promise<void>;
}
