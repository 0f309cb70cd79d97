/**
 * The local DynamoDB server's write tap (`LocalServers.tapWrites`), which wakes readers waiting
 * for a run on the embedded platform: each item write the server carried out reaches the tap
 * with its table and key; reads, refused writes, writes while the tap is inactive and writes
 * after its undo do not.
 *
 * A tap may also hear each write begin (its body read whole, before the store changes) and end
 * (answered or its connection closed), in pairs: the embedded platform's flow reads are kept
 * only while no write to the flows table is under way.
 *
 * The tap hears of a write as the server's answer goes out, so a test that expects nothing
 * finishes with a marker write seen by a second, always-listening tap: once the marker arrived,
 * anything the earlier requests would have reported has been reported.
 */
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { LOCAL_CREDENTIALS } from "../../lib/aws/dynamodb";
import { startLocalServers, type LocalServers, type WriteTap } from "../../lib/local/servers";

type Key = Readonly<Record<string, unknown>>;
interface Heard {
  readonly table: string;
  readonly key: Key;
}

const TABLE = "tap-test-runs";
const OTHER_TABLE = "tap-test-other";

let servers: LocalServers;
let client: DynamoDBClient;

/** A tap recording what it hears; `active` is read at each request. */
function recorder(active: () => boolean = () => true): WriteTap & { heard: Heard[] } {
  const heard: Heard[] = [];
  return { heard, active, onWrite: (table, key) => heard.push({ table, key }) };
}

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Writes a marker item with a fresh witness tap listening, and waits until the witness heard
 * it: every request sent before has had its answer, and its report, by then.
 */
async function settle(): Promise<void> {
  const witness = recorder();
  const undo = servers.tapWrites(witness);
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  try {
    await client.send(new PutItemCommand({ TableName: OTHER_TABLE, Item: { id: { S: marker } } }));
    await until("the marker write", () =>
      witness.heard.some((h) => (h.key.id as { S?: string } | undefined)?.S === marker),
    );
  } finally {
    undo();
  }
}

const runKey = (runId: string) => ({ run_id: { S: runId } });
/** What a tap heard of the runs table (the marker writes go to the other table). */
/** An UpdateItem whose condition (status CANCELLED) does not hold for a QUEUED run. */
const refusedUpdate = (runId: string) =>
  client.send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: runKey(runId),
      UpdateExpression: "SET #s = :s",
      ConditionExpression: "#s = :was",
      ExpressionAttributeNames: { "#s": "status" },
      ExpressionAttributeValues: { ":s": { S: "RUNNING" }, ":was": { S: "CANCELLED" } },
    }),
  );
const onRuns = (tap: { heard: Heard[] }) => tap.heard.filter((h) => h.table === TABLE);

beforeAll(async () => {
  servers = await startLocalServers();
  client = new DynamoDBClient({
    region: "us-east-1",
    endpoint: servers.dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
  });
  for (const [table, key] of [
    [TABLE, "run_id"],
    [OTHER_TABLE, "id"],
  ] as const) {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
        KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await servers?.close();
});

describe("LocalServers.tapWrites", () => {
  test("PutItem, UpdateItem and DeleteItem each reach onWrite with their table and key", async () => {
    const tap = recorder();
    const undo = servers.tapWrites(tap);
    try {
      await client.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { ...runKey("run-1"), status: { S: "QUEUED" } },
        }),
      );
      await until("the put", () => tap.heard.length === 1);
      // A put's key is read from its item: the whole item, key attributes included.
      expect(tap.heard[0]).toEqual({
        table: TABLE,
        key: { ...runKey("run-1"), status: { S: "QUEUED" } },
      });

      await client.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: runKey("run-1"),
          UpdateExpression: "SET #s = :s",
          ExpressionAttributeNames: { "#s": "status" },
          ExpressionAttributeValues: { ":s": { S: "RUNNING" } },
        }),
      );
      await until("the update", () => tap.heard.length === 2);
      expect(tap.heard[1]).toEqual({ table: TABLE, key: runKey("run-1") });

      await client.send(new DeleteItemCommand({ TableName: TABLE, Key: runKey("run-1") }));
      await until("the delete", () => tap.heard.length === 3);
      expect(tap.heard[2]).toEqual({ table: TABLE, key: runKey("run-1") });
    } finally {
      undo();
    }
  });

  test("a refused conditional UpdateItem and a GetItem are not reported", async () => {
    await client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { ...runKey("run-2"), status: { S: "QUEUED" } },
      }),
    );
    const tap = recorder();
    const undo = servers.tapWrites(tap);
    try {
      await expect(refusedUpdate("run-2")).rejects.toMatchObject({
        name: "ConditionalCheckFailedException",
      });
      const got = await client.send(new GetItemCommand({ TableName: TABLE, Key: runKey("run-2") }));
      expect(got.Item?.status).toEqual({ S: "QUEUED" });
      await settle();
      expect(onRuns(tap)).toEqual([]);
    } finally {
      undo();
    }
  });

  test("nothing is reported while active() is false, and writes are once it is true again", async () => {
    let active = false;
    const tap = recorder(() => active);
    const undo = servers.tapWrites(tap);
    try {
      await client.send(new PutItemCommand({ TableName: TABLE, Item: runKey("run-3") }));
      await client.send(new DeleteItemCommand({ TableName: TABLE, Key: runKey("run-3") }));
      await settle();
      expect(onRuns(tap)).toEqual([]);

      active = true;
      await client.send(new PutItemCommand({ TableName: TABLE, Item: runKey("run-4") }));
      await until("the put once active", () => tap.heard.length > 0);
      expect(tap.heard).toEqual([{ table: TABLE, key: runKey("run-4") }]);
    } finally {
      undo();
    }
  });

  test("after the undo, nothing is reported", async () => {
    const tap = recorder();
    const undo = servers.tapWrites(tap);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: runKey("run-5") }));
    await until("the put before the undo", () => tap.heard.length === 1);
    undo();
    await client.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: runKey("run-5"),
        UpdateExpression: "SET #s = :s",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":s": { S: "RUNNING" } },
      }),
    );
    await client.send(new DeleteItemCommand({ TableName: TABLE, Key: runKey("run-5") }));
    await settle();
    expect(onRuns(tap)).toEqual([{ table: TABLE, key: runKey("run-5") }]);
  });

  test("a tap that throws does not stop the write or the other taps", async () => {
    const thrower: WriteTap = {
      active: () => true,
      onWrite: () => {
        throw new Error("listener failure");
      },
    };
    const tap = recorder();
    const undoThrower = servers.tapWrites(thrower);
    const undo = servers.tapWrites(tap);
    try {
      await client.send(new PutItemCommand({ TableName: TABLE, Item: runKey("run-6") }));
      await until("the put", () => tap.heard.length === 1);
      const got = await client.send(new GetItemCommand({ TableName: TABLE, Key: runKey("run-6") }));
      expect(got.Item).toEqual(runKey("run-6"));
    } finally {
      undo();
      undoThrower();
    }
  });

  test("each write begins before it is carried out and ends once answered, refused or not", async () => {
    const events: string[] = [];
    const tap: WriteTap = {
      active: () => true,
      onWriteBegin: (table) => {
        if (table !== TABLE) return;
        events.push("begin");
      },
      onWrite: (table) => {
        if (table === TABLE) events.push("write");
      },
      onWriteEnd: (table) => {
        if (table === TABLE) events.push("end");
      },
    };
    const undo = servers.tapWrites(tap);
    try {
      await client.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { ...runKey("run-7"), status: { S: "QUEUED" } },
        }),
      );
      await until("the put's end", () => events.length === 3);
      expect(events).toEqual(["begin", "write", "end"]);
      await expect(refusedUpdate("run-7")).rejects.toMatchObject({
        name: "ConditionalCheckFailedException",
      });
      await until("the refused update's end", () => events.length === 5);
      expect(events.slice(3)).toEqual(["begin", "end"]);
    } finally {
      undo();
    }
  });
});
