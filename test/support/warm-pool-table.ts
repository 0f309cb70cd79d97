/** The warm pool table (partition key `pool`, no sort key) in the test's dynalite. */
import { randomBytes } from "node:crypto";
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import type { TestEnv } from "./local-servers";

export async function createPoolTable(env: TestEnv): Promise<string> {
  const tableName = `dagy-test-warm-pools-${randomBytes(4).toString("hex")}`;
  await env.clients.dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pool", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pool", KeyType: "HASH" }],
    }),
  );
  for (;;) {
    const out = await env.clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (out.Table?.TableStatus === "ACTIVE") return tableName;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
