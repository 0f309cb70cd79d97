/**
 * Dagy's run metrics as CloudWatch embedded metric format (EMF) lines: one JSON object that is
 * both a log line and, where CloudWatch extracts EMF (Lambda's log stream), a metric datum. No
 * SDK call and no dependency; the stack's dashboard reads the same names.
 */
export const METRICS_NAMESPACE = "Dagy";

export const RUN_METRICS = {
  launched: "RunsLaunched",
  succeeded: "RunsSucceeded",
  failed: "RunsFailed",
  cancelled: "RunsCancelled",
  /** Milliseconds from the launch request to RunTask's answer. */
  launchLatency: "LaunchLatency",
} as const;

export type MetricUnit = "Count" | "Milliseconds";

export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}

/** Where EMF lines go (stdout in Lambda). */
export type MetricSink = (line: string) => void;

/**
 * One EMF line: the metrics under `Dagy` with one dimension set (`Environment`, plus any
 * `extra` properties, which are searchable in Logs Insights but are not dimensions).
 */
export function emfLine(
  metrics: readonly MetricDatum[],
  environment: string,
  extra: Readonly<Record<string, string>> = {},
  timestamp: number = Date.now(),
): string {
  const line: Record<string, unknown> = {
    ...extra,
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [["Environment"]],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    Environment: environment === "" ? "none" : environment,
  };
  for (const m of metrics) line[m.name] = m.value;
  return JSON.stringify(line);
}

/** The metric a terminal status counts in, if any. */
export function terminalStatusMetric(status: string): string | undefined {
  if (status === "SUCCEEDED") return RUN_METRICS.succeeded;
  if (status === "FAILED") return RUN_METRICS.failed;
  if (status === "CANCELLED") return RUN_METRICS.cancelled;
  return undefined;
}

/** Writes to stdout: Lambda forwards it to CloudWatch Logs, which extracts the metrics. */
export const stdoutMetricSink: MetricSink = (line) => {
  process.stdout.write(`${line}\n`);
};
