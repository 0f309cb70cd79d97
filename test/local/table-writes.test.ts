/**
 * Flow reads kept between writes on the embedded platform (`tableWritesFrom` + FlowRepository):
 * a launch resolves its flow without a Query while the flows table has not been written, and
 * any write to that table (from this process or another client, as a worker or the CLI's
 * registration would make) is seen by the very next read. Real local DynamoDB server; the
 * repository's requests are counted at its client.
 */
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { tableWritesFrom } from "../../lib/local/table-writes";
import { FlowRepository, type TableWriteCount } from "../../lib/persistence/flows";
import type { FlowRecord } from "../../lib/persistence/records";
import { uniqueOrg } from "../persistence/fixtures";
import { startTestEnv, type TestEnv } from "../support/local-servers";

let env: TestEnv;
let writes: TableWriteCount;

beforeAll(async () => {
  env = await startTestEnv();
  writes = tableWritesFrom(env.servers, env.tables.flows);
}, 60_000);
afterAll(() => env.close());

function flow(org: string, version: string, sha = "1"): FlowRecord {
  return {
    org_id: org,
    flow_name: "hello",
    flow_version: version,
    spec: JSON.stringify({ spec_version: 1, name: "hello", version }),
    artifact_s3_uri: `s3://dagy-artifacts/flows/hello/${version}/artifact.zip`,
    artifact_sha256: sha.repeat(64),
    is_semver: true,
    registered_at: "2026-12-01T00:00:00.000Z",
  };
}

/** A repository whose client counts the commands it sends, by name. */
function countingRepository(count: TableWriteCount | null = writes) {
  const sent: string[] = [];
  const doc = {
    send: (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      return env.clients.doc.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  return { repo: new FlowRepository(doc, env.tables.flows, count ?? undefined), sent };
}

describe("flow reads kept between writes", () => {
  it("resolves the latest version again without a Query while the table is not written", async () => {
    const org = uniqueOrg();
    const { repo, sent } = countingRepository();
    await repo.put(flow(org, "1.0.0"));
    expect((await repo.resolve(org, "hello")).flow_version).toBe("1.0.0");
    const queries = sent.filter((c) => c === "QueryCommand").length;
    expect((await repo.resolve(org, "hello")).flow_version).toBe("1.0.0");
    expect((await repo.resolve(org, "hello")).flow_version).toBe("1.0.0");
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(queries);
  });

  it("sees a version another client registered at the next read", async () => {
    const org = uniqueOrg();
    const { repo, sent } = countingRepository();
    await repo.put(flow(org, "1.0.0"));
    expect((await repo.resolve(org, "hello")).flow_version).toBe("1.0.0");
    // Another client (a worker, the CLI): nothing of this repository knows of the write.
    await env.clients.doc.send(
      new PutCommand({
        TableName: env.tables.flows,
        Item: { ...flow(org, "1.1.0", "2"), flow_key: "hello#1.1.0" },
      }),
    );
    const latest = await repo.resolve(org, "hello");
    expect(latest).toMatchObject({ flow_version: "1.1.0", artifact_sha256: "2".repeat(64) });
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(2);
  });

  it("keeps nothing without a write count (Lambda): every read is a Query", async () => {
    const org = uniqueOrg();
    const { repo, sent } = countingRepository(null);
    await repo.put(flow(org, "1.0.0"));
    await repo.resolve(org, "hello");
    await repo.resolve(org, "hello");
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(2);
  });

  it("hands out copies: a caller changing its answer changes no later one", async () => {
    const org = uniqueOrg();
    const { repo } = countingRepository();
    await repo.put(flow(org, "1.0.0"));
    const first = await repo.resolve(org, "hello");
    first.artifact_s3_uri = "s3://elsewhere/artifact.zip";
    const again = await repo.resolve(org, "hello");
    expect(again.artifact_s3_uri).toBe("s3://dagy-artifacts/flows/hello/1.0.0/artifact.zip");
  });
});

describe("a read that overlaps a write", () => {
  /** A write count the test moves by hand. */
  function manual() {
    const state = { version: 0, underWay: false };
    const count: TableWriteCount = {
      version: () => (state.underWay ? undefined : state.version),
    };
    return { state, count };
  }

  it("is not kept when a write begins while it is under way", async () => {
    const org = uniqueOrg();
    const { state, count } = manual();
    const { repo, sent } = countingRepository(count);
    await repo.put(flow(org, "1.0.0"));
    const reading = repo.resolve(org, "hello");
    state.version++; // a write began after the read did
    await reading;
    await repo.resolve(org, "hello");
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(2);
  });

  it("is neither served from nor kept while a write is under way", async () => {
    const org = uniqueOrg();
    const { state, count } = manual();
    const { repo, sent } = countingRepository(count);
    await repo.put(flow(org, "1.0.0"));
    await repo.resolve(org, "hello"); // kept
    state.version++;
    state.underWay = true;
    await repo.resolve(org, "hello");
    await repo.resolve(org, "hello");
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(3);
    state.underWay = false; // the write is over: one more read, then kept again
    await repo.resolve(org, "hello");
    await repo.resolve(org, "hello");
    expect(sent.filter((c) => c === "QueryCommand")).toHaveLength(4);
  });
});
