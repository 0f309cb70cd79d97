/**
 * One region chain for every client (finding 11): with DAGY_* configuration but no AWS_REGION,
 * DynamoDB, S3, ECS and CloudWatch Logs all take the region from the SDK's own chain (here the
 * shared config file), never from a hard-coded fallback.
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { ECSClient } from "@aws-sdk/client-ecs";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createS3Client, endpointsOf, regionOption } from "../../lib/aws/clients";
import { createDynamoDbClient } from "../../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../../lib/config/runtime";

const VARIABLES = ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"];
let saved: Record<string, string | undefined>;
let dir: string;

beforeEach(() => {
  saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dagy-region-"));
  const file = path.join(dir, "config");
  fs.writeFileSync(file, "[default]\nregion = eu-north-1\n");
  for (const name of VARIABLES) delete process.env[name];
  process.env.AWS_CONFIG_FILE = file;
});

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test("without AWS_REGION every client follows the SDK's region chain", async () => {
  const config = parseRuntimeConfig(
    {
      DAGY_FLOWS_TABLE: "f",
      DAGY_RUNS_TABLE: "r",
      DAGY_DEPLOYMENTS_TABLE: "d",
      DAGY_DEP_PACKAGES_TABLE: "p",
      DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:eu-north-1:123456789012:cluster/dagy",
      DAGY_COMPUTE_BACKEND: "local",
      DAGY_ARTIFACT_BUCKET: "a",
      DAGY_TRACES_BUCKET: "t",
      DAGY_ENVIRONMENT: "develop",
    },
    "reconcile",
  );
  expect(config.region).toBeUndefined();
  const endpoints = endpointsOf(config);
  const clients = [
    createDynamoDbClient(endpoints),
    createS3Client(endpoints),
    new ECSClient(regionOption(config.region)),
    new CloudWatchLogsClient(regionOption(config.region)),
  ];
  try {
    const regions = await Promise.all(clients.map((client) => client.config.region()));
    expect(regions).toEqual(["eu-north-1", "eu-north-1", "eu-north-1", "eu-north-1"]);
  } finally {
    for (const client of clients) client.destroy();
  }
});
