import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";

/**
 * events:PutEvents on the account's default event bus and nothing else: where Dagy announces
 * a run's terminal status (`Dagy Run Status Change`, lib/events/run-status.ts).
 */
export function grantDefaultBusPutEvents(grantee: iam.IGrantable & IConstruct): void {
  iam.Grant.addToPrincipal({
    grantee,
    actions: ["events:PutEvents"],
    resourceArns: [
      Stack.of(grantee).formatArn({
        service: "events",
        resource: "event-bus",
        resourceName: "default",
      }),
    ],
  });
}
