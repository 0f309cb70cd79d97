import { Duration } from "aws-cdk-lib";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

export interface RunReconciliationConstructProps {
  readonly cluster: ecs.ICluster;
  /** Receives ECS Task State Change events of stopped worker tasks. */
  readonly taskEventsFunction: lambda.IFunction;
  /** Runs the periodic sweep. */
  readonly reconcileFunction: lambda.IFunction;
  /** Default 5 minutes. */
  readonly sweepInterval?: Duration;
}

/**
 * Keeps run records true when a worker cannot: a task that stops without settling its run
 * (out of memory, Spot interruption, image pull failure) is caught by its STOPPED event; a lost
 * event is caught by the periodic sweep of runs QUEUED or RUNNING for too long.
 */
export class RunReconciliationConstruct extends Construct {
  readonly taskStoppedRule: events.Rule;
  readonly sweepRule: events.Rule;

  constructor(scope: Construct, id: string, props: RunReconciliationConstructProps) {
    super(scope, id);
    this.taskStoppedRule = new events.Rule(this, "TaskStopped", {
      description: "Dagy: worker tasks of this cluster that stopped",
      eventPattern: {
        source: ["aws.ecs"],
        detailType: ["ECS Task State Change"],
        detail: {
          clusterArn: [props.cluster.clusterArn],
          lastStatus: ["STOPPED"],
        },
      },
      targets: [
        new targets.LambdaFunction(props.taskEventsFunction, {
          retryAttempts: 4,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
    this.sweepRule = new events.Rule(this, "Sweep", {
      description: "Dagy: sweep runs QUEUED or RUNNING for too long",
      schedule: events.Schedule.rate(props.sweepInterval ?? Duration.minutes(5)),
      targets: [new targets.LambdaFunction(props.reconcileFunction, { retryAttempts: 0 })],
    });
  }
}
