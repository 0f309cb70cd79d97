/**
 * What the worker host is given besides its configuration: the run store, the object store,
 * and the optional clients and hooks. Re-exported by ./run-host.ts.
 */
import type { RunRecord } from "../persistence/records";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { Json } from "../sdk/types";
import type { ObjectStore } from "../storage/object-store";
import type { NpmInstaller } from "./dep-packages";
import type { ChildRunApi, IsolatedMapOptions } from "./isolated-map";
import type { PreloadedArtifact } from "./preload";
import type { StartMode, WorkerRunStore } from "./run-outcome";

export interface WorkerDeps {
  readonly runs: WorkerRunStore;
  readonly store: Pick<ObjectStore, "get" | "put">;
  /** Needed when `config.logShipping`. */
  readonly logs?: CloudWatchLogsClient;
  /** Where log lines go (default: stdout). Already redacted. */
  readonly stdout?: (line: string) => void;
  /** Parent of the run's work directory. Default: the OS temp dir. */
  readonly tempDir?: string;
  readonly npmInstall?: NpmInstaller;
  /** Task-state flush interval. Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** CloudWatch Logs flush interval. Default 1000 ms. */
  readonly shipIntervalMs?: number;
  /** ms since process start when main() began (for `worker_timings`). */
  readonly mainStartedAt?: number;
  /**
   * Where isolated maps ask for child runs. Default: the HTTP API at `config.apiUrl`; without
   * either, isolated maps run in-process.
   */
  readonly childRuns?: (parameters: Record<string, Json>) => ChildRunApi;
  /** Pacing of isolated maps' launches and polls. */
  readonly isolatedMap?: IsolatedMapOptions;
  /**
   * The task this worker is, when it knows (a warm worker's ECS task ARN, a local worker's
   * `local:` id): the claim records it on the run and its attempt, so reconciliation finds the
   * run by this task when the worker dies.
   */
  readonly task?: { readonly taskArn: string; readonly startMode: StartMode };
  /** Called once the run is claimed (a warm worker acknowledges its assignment). Never throws. */
  readonly onClaimed?: () => void;
  /**
   * The claim's one conditional write (`startClaim`), already sent by the caller as soon as it
   * had the run's configuration: the host's own setting up overlaps its round trip.
   */
  readonly claimStarted?: Promise<RunRecord | undefined>;
  /**
   * The artifact a warm worker preloaded while idle (./preload.ts): used only when it is this
   * run's (same URI and SHA-256, verified when it was fetched); its bundle still runs here.
   */
  readonly preloaded?: PreloadedArtifact;
}
