import { Duration } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as destinations from "aws-cdk-lib/aws-lambda-destinations";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { RUN_STATUS_LOG_EVENT } from "../../events/run-status";
import { METRICS_NAMESPACE, RUN_METRICS, terminalStatusMetric } from "../../metrics";
import { acknowledgeRule } from "../nag";
import { WARM_MAX_RECEIVE_COUNT } from "./warm-pools";

export interface MonitoredFunction {
  /** Short name used in alarm names, e.g. `api`. */
  readonly name: string;
  readonly function: lambda.IFunction;
}

export interface MonitoringConstructProps {
  /** `<appName>-<env>`: alarm and dashboard names start with it. */
  readonly resourcePrefix: string;
  readonly functions: readonly MonitoredFunction[];
  readonly apiStage: apigwv2.IHttpStage;
  /**
   * Functions invoked asynchronously (EventBridge, Scheduler, direct `Event` invokes): an
   * invocation that fails after Lambda's retries lands in the failed-invocations queue.
   */
  readonly asyncFunctions: readonly MonitoredFunction[];
  /** The stack's environment: the dimension of Dagy's own run metrics. */
  readonly environment: string;
  /** Subscribed to the alarm topic by email when set. */
  readonly alarmEmail?: string;
  /**
   * The worker log group: its `run_status_change` lines become the terminal-run metrics (the
   * worker is not a Lambda, so its EMF lines would not be extracted).
   */
  readonly workerLogGroup: logs.ILogGroup;
  /** Dead-letter queues (the warm pools'): a message landing there raises `<prefix>-<name>`. */
  readonly deadLetterQueues?: readonly { readonly name: string; readonly queue: sqs.IQueue }[];
}

/**
 * Alarms a team would page on, each notifying the alarm topic (subscribe your on-call to it,
 * or set `alarmEmail`); a queue holding async invocations that failed for good, with its own
 * alarm; and one dashboard with the run metrics.
 */
export class MonitoringConstruct extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm's action (ALARM and OK). */
  readonly alarmTopic: sns.Topic;
  /** On-failure destination of the launch, task-events and reconcile functions. */
  readonly failedInvocations: sqs.Queue;

  constructor(scope: Construct, id: string, props: MonitoringConstructProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    this.alarmTopic = new sns.Topic(this, "AlarmTopic", {
      topicName: `${props.resourcePrefix}-alarms`,
      displayName: `Dagy ${props.resourcePrefix} alarms`,
      enforceSSL: true,
    });
    acknowledgeRule(
      this.alarmTopic,
      "AwsSolutions-SNS2",
      "Alarm notifications carry alarm names and states, no data; CloudWatch cannot publish to a topic encrypted with the AWS managed key, and a customer managed key would add a key policy to keep right for no data.",
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    this.failedInvocations = new sqs.Queue(this, "FailedInvocations", {
      queueName: `${props.resourcePrefix}-failed-invocations`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeRule(
      this.failedInvocations,
      "AwsSolutions-SQS3",
      "This queue is itself the dead-letter destination of the async functions; nothing consumes it but an operator.",
    );
    for (const { function: fn } of props.asyncFunctions) {
      fn.configureAsyncInvoke({
        onFailure: new destinations.SqsDestination(this.failedInvocations),
      });
    }

    for (const { name, function: fn } of props.functions) {
      this.alarms.push(
        fn.metricErrors({ period, statistic: "Sum" }).createAlarm(this, `${name}Errors`, {
          alarmName: `${props.resourcePrefix}-${name}-errors`,
          alarmDescription: `The ${name} function failed (unhandled error or timeout)`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    this.alarms.push(
      this.failedInvocations
        .metricApproximateNumberOfMessagesVisible({ period, statistic: "Maximum" })
        .createAlarm(this, "FailedInvocationsAlarm", {
          alarmName: `${props.resourcePrefix}-failed-invocations`,
          alarmDescription:
            "An async invocation (launch event, task event, sweep) failed after Lambda's retries; the event is in the failed-invocations queue",
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    for (const { name, queue } of props.deadLetterQueues ?? []) {
      this.alarms.push(
        queue
          .metricApproximateNumberOfMessagesVisible({ period, statistic: "Maximum" })
          .createAlarm(this, `${name}Alarm`, {
            alarmName: `${props.resourcePrefix}-${name}`,
            alarmDescription: `A message was delivered ${WARM_MAX_RECEIVE_COUNT} times without being processed and moved to the dead-letter queue ${name}`,
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    }
    const serverErrors = props.apiStage.metricServerError({ period, statistic: "Sum" });
    this.alarms.push(
      serverErrors.createAlarm(this, "Api5xx", {
        alarmName: `${props.resourcePrefix}-api-5xx`,
        alarmDescription: "The HTTP API answered 5xx",
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    for (const status of ["SUCCEEDED", "FAILED", "CANCELLED"]) {
      new logs.MetricFilter(this, `Worker${status}`, {
        logGroup: props.workerLogGroup,
        filterPattern: logs.FilterPattern.all(
          logs.FilterPattern.stringValue("$.event_type", "=", RUN_STATUS_LOG_EVENT),
          logs.FilterPattern.stringValue("$.status", "=", status),
        ),
        metricNamespace: METRICS_NAMESPACE,
        metricName: terminalStatusMetric(status) ?? "",
        metricValue: "1",
        dimensions: { Environment: "$.environment" },
      });
    }

    const action = new cwActions.SnsAction(this.alarmTopic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }

    const runMetric = (metricName: string, statistic: string, label: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { Environment: props.environment },
        period,
        statistic,
        label,
      });

    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      dashboardName: props.resourcePrefix,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: "Function errors",
            left: props.functions.map(({ name, function: fn }) =>
              fn.metricErrors({ period, statistic: "Sum", label: name }),
            ),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: "HTTP API",
            left: [
              props.apiStage.metricCount({ period, statistic: "Sum", label: "requests" }),
              props.apiStage.metricClientError({ period, statistic: "Sum", label: "4xx" }),
              serverErrors.with({ label: "5xx" }),
            ],
            right: [
              props.apiStage.metricLatency({ period, statistic: "p99", label: "p99 latency" }),
            ],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: "Runs",
            left: [
              runMetric(RUN_METRICS.launched, "Sum", "launched"),
              runMetric(RUN_METRICS.succeeded, "Sum", "succeeded"),
              runMetric(RUN_METRICS.failed, "Sum", "failed"),
            ],
            right: [runMetric(RUN_METRICS.launchLatency, "p99", "launch latency p99 (ms)")],
            width: 24,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24 })],
      ],
    });
  }
}
