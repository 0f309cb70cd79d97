import { LAUNCHER_ENV } from "../../lib/config/env";
import { envFromStackOutputs, STACK_OUTPUTS } from "../../lib/config/stack-outputs";

test("every launcher variable of the guide has a stack output", () => {
  const mapped = new Set(Object.values(STACK_OUTPUTS));
  for (const name of Object.values(LAUNCHER_ENV)) expect(mapped).toContain(name);
});

test("envFromStackOutputs turns DescribeStacks outputs into DAGY_* variables", () => {
  expect(
    envFromStackOutputs([
      {
        OutputKey: "DagyEcsClusterArn",
        OutputValue: "arn:aws:ecs:eu-west-1:123456789012:cluster/dagy-develop",
      },
      { OutputKey: "DagyEcsSubnets", OutputValue: "subnet-1,subnet-2" },
      { OutputKey: "DagyRunsTable", OutputValue: "dagy-develop-runs" },
      { OutputKey: "DagyApiUrl", OutputValue: "https://x.execute-api.eu-west-1.amazonaws.com/" },
      { OutputKey: "DagyEcsLogGroup" },
    ]),
  ).toEqual({
    DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:eu-west-1:123456789012:cluster/dagy-develop",
    DAGY_ECS_SUBNETS: "subnet-1,subnet-2",
    DAGY_RUNS_TABLE: "dagy-develop-runs",
  });
});
