/** What the local backend is configured with (see LocalBackend). */
import type { WorkerSize } from "./local-warm-pool";
import type { LocalWorkerExit } from "./local-worker-process";

export interface LocalBackendOptions {
  /**
   * argv of the worker. Default: this Node binary with tsx's loader running
   * `<repo>/worker/main.ts`.
   */
  readonly workerCommand?: readonly string[];
  /** Working directory of workers. Default: the repository root. */
  readonly cwd?: string;
  /** Default 4. */
  readonly maxConcurrent?: number;
  /** Each worker's stdout and stderr go to `<logDir>/<runId>.log` (read by `dagy logs`). */
  readonly logDir: string;
  /** Local DynamoDB and S3 endpoints the worker talks to. */
  readonly dynamodbEndpoint?: string;
  readonly s3Endpoint?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /** JSON `{ "<secret ARN>": "<value>" }`; required only by runs with secrets. */
  readonly secretsFile?: string;
  /** SIGTERM, then SIGKILL after this long. Default 10 s. */
  readonly stopGraceMs?: number;
  /**
   * Variables inherited from this process (PATH and the like), never AWS credentials.
   * Default: PATH, HOME, TMPDIR, TEMP, TMP, SystemRoot, LANG, TZ, NODE_OPTIONS.
   */
  readonly inheritEnv?: readonly string[];
  /**
   * Limit each worker's Node heap to its memory (`--max-old-space-size`, see heapLimitMib), so a
   * run that would be killed for memory on Fargate dies of heap exhaustion here. Default true.
   */
  readonly enforceMemory?: boolean;
  /** Called once per run when its worker exits (or leaves the queue): the platform reconciles. */
  readonly onExit?: (runId: string, exit: LocalWorkerExit) => void;
  /**
   * The platform's HTTP API, given to workers as DAGY_API_URL: an isolated map's worker asks
   * it for child runs. Also settable later (`setApiUrl`): the server starts after the backend.
   */
  readonly apiUrl?: string;
  /**
   * Idle warm workers kept per worker size (issue #14): started ahead of demand, handed a run
   * over IPC. Default 0 here (the platform's `--warm` defaults to 2); 0 disables the pool.
   */
  readonly warm?: number;
  /** Sizes kept warm from the start. Default: the default workload profile's (medium). */
  readonly warmSizes?: readonly WorkerSize[];
  /** Workers read artifacts by SHA-256 from here (DAGY_ARTIFACT_CACHE_DIR) before S3. */
  readonly artifactCacheDir?: string;
  /** The platform's log (the pool says when it gives a size up). */
  readonly log?: (line: string) => void;
}
