import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand, DescribeTableCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { createDataClients, destroyDataClients } from "../../lib/aws/clients";
import { ensureBuckets, ensureTables, startLocalServers } from "../../lib/local/servers";
import { Persistence } from "../../lib/persistence/persistence";
import { tableNamesFor } from "../../lib/persistence/schema";
import { ObjectStore } from "../../lib/storage/object-store";
import { newRun } from "./fixtures";

it("ensureTables creates the schema's tables and indexes, and is idempotent", async () => {
  const servers = await startLocalServers();
  const clients = createDataClients(servers);
  try {
    const tables = tableNamesFor("dagy-schema");
    await ensureTables(clients.dynamodb, tables);
    await ensureTables(clients.dynamodb, tables);
    const runs = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tables.runs }));
    expect(runs.Table?.TableStatus).toBe("ACTIVE");
    expect(runs.Table?.BillingModeSummary?.BillingMode ?? "PAY_PER_REQUEST").toBe(
      "PAY_PER_REQUEST",
    );
    expect(runs.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
      "by_active_status",
      "by_org",
      "by_org_flow",
      "by_org_status",
      "by_parent",
      "by_task_arn",
    ]);
    expect(
      runs.Table?.GlobalSecondaryIndexes?.every((i) => i.Projection?.ProjectionType === "ALL"),
    ).toBe(true);
    await ensureBuckets(clients.s3, ["dagy-a", "dagy-b"]);
    await ensureBuckets(clients.s3, ["dagy-a"]);
  } finally {
    destroyDataClients(clients);
    await servers.close();
  }
});

it("with a dataDir, runs and objects survive a restart", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "dagy-local-"));
  const tables = tableNamesFor("dagy-local");
  const run = newRun();
  const uri = "s3://dagy-local-artifacts/flows/etl/1.0.0/artifact.zip";
  try {
    {
      const servers = await startLocalServers({ dataDir });
      const clients = createDataClients(servers);
      await ensureTables(clients.dynamodb, tables);
      await ensureBuckets(clients.s3, ["dagy-local-artifacts"]);
      await new Persistence(clients.doc, tables).runs.create(run);
      await new ObjectStore(clients.s3).put(uri, "artifact bytes");
      destroyDataClients(clients);
      await servers.close();
    }
    {
      const servers = await startLocalServers({ dataDir });
      const clients = createDataClients(servers);
      await ensureTables(clients.dynamodb, tables);
      expect((await new Persistence(clients.doc, tables).runs.get(run.run_id))?.run_id).toBe(
        run.run_id,
      );
      expect((await new ObjectStore(clients.s3).get(uri)).toString()).toBe("artifact bytes");
      destroyDataClients(clients);
      await servers.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

it("ensureTables adds an index an older runs table lacks, keeping its items", async () => {
  const servers = await startLocalServers();
  const clients = createDataClients(servers);
  try {
    const tables = tableNamesFor("dagy-old");
    // A runs table as an earlier Dagy created it: no by_parent index.
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: tables.runs,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: "run_id", AttributeType: "S" },
          { AttributeName: "org_id", AttributeType: "S" },
          { AttributeName: "created_at", AttributeType: "S" },
        ],
        KeySchema: [{ AttributeName: "run_id", KeyType: "HASH" }],
        GlobalSecondaryIndexes: [
          {
            IndexName: "by_org",
            KeySchema: [
              { AttributeName: "org_id", KeyType: "HASH" },
              { AttributeName: "created_at", KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "ALL" },
          },
        ],
      }),
    );
    await clients.dynamodb.send(
      new PutItemCommand({
        TableName: tables.runs,
        Item: { run_id: { S: "old-run" }, org_id: { S: "acme" }, created_at: { S: "2024" } },
      }),
    );
    await ensureTables(clients.dynamodb, tables);
    const runs = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tables.runs }));
    expect(runs.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toContain("by_parent");
    const got = await clients.doc.send(
      new GetCommand({ TableName: tables.runs, Key: { run_id: "old-run" } }),
    );
    expect(got.Item).toMatchObject({ run_id: "old-run", org_id: "acme" });
  } finally {
    destroyDataClients(clients);
    await servers.close();
  }
});
