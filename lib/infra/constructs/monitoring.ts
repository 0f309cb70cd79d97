import { Duration } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

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
}

/**
 * Alarms a team would page on, and one dashboard. Alarms have no actions here: wire them to
 * your notification topic (`alarm.addAlarmAction`) where the team's on-call lives.
 */
export class MonitoringConstruct extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringConstructProps) {
    super(scope, id);
    const period = Duration.minutes(5);
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
        [new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24 })],
      ],
    });
  }
}
