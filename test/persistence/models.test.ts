/** The guide's model snippets, translated to TypeScript, against local DynamoDB and S3. */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  ConfigurationError,
  ConflictError,
  ForbiddenError,
  RunNotFoundError,
} from "../../lib/errors";
import {
  configurePersistence,
  DeploymentModel,
  DepPackageModel,
  FlowModel,
  persistenceFromEnv,
  RunModel,
} from "../../lib/persistence/models";
import { Persistence } from "../../lib/persistence/persistence";
import { createZip } from "../../lib/storage/archive";
import { sha256Hex } from "../../lib/hash";
import { ObjectStore } from "../../lib/storage/object-store";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { newRun, uniqueOrg } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  configurePersistence(persistence, new ObjectStore(env.clients.s3));
});
afterAll(async () => {
  configurePersistence(undefined);
  await env.close();
});

it("FlowModel(...).save(): the guide's registration, sha256 computed from the uploaded artifact", async () => {
  const org = uniqueOrg("acme-corp");
  const flowSpec = {
    spec_version: 1,
    name: "etl_pipeline",
    version: "1.0.0",
    parameters: {},
    tasks: [],
    edges: [],
  };
  const artifact = createZip({ "flow_spec.json": JSON.stringify(flowSpec) });
  // aws s3 cp artifact.zip s3://your-artifact-bucket/flows/etl_pipeline/1.0.0/artifact.zip
  await env.clients.s3.send(
    new PutObjectCommand({
      Bucket: env.buckets.artifacts,
      Key: "flows/etl_pipeline/1.0.0/artifact.zip",
      Body: artifact,
    }),
  );

  await new FlowModel({
    flow_name: "etl_pipeline",
    flow_version: "1.0.0",
    org_id: org,
    spec: JSON.stringify(flowSpec),
    artifact_s3_uri: `s3://${env.buckets.artifacts}/flows/etl_pipeline/1.0.0/artifact.zip`,
  }).save();

  const stored = await FlowModel.get(org, "etl_pipeline", "1.0.0");
  expect(stored).toBeInstanceOf(FlowModel);
  expect(stored).toMatchObject({
    artifact_sha256: sha256Hex(artifact),
    is_semver: true,
    spec: JSON.stringify(flowSpec),
  });
  expect((await FlowModel.resolve(org, "etl_pipeline")).flow_version).toBe("1.0.0");

  // Same version, other bytes: refused.
  await expect(
    new FlowModel({
      flow_name: "etl_pipeline",
      flow_version: "1.0.0",
      org_id: org,
      spec: flowSpec as never,
      artifact_s3_uri: `s3://${env.buckets.artifacts}/flows/etl_pipeline/1.0.0/artifact.zip`,
      artifact_sha256: "f".repeat(64),
    }).save(),
  ).rejects.toThrow(ConflictError);
});

it("FlowModel.save() without an uploaded artifact says to upload it first", async () => {
  await expect(
    new FlowModel({
      flow_name: "etl_pipeline",
      flow_version: "9.9.9",
      org_id: uniqueOrg(),
      spec: "{}",
      artifact_s3_uri: `s3://${env.buckets.artifacts}/flows/etl_pipeline/9.9.9/artifact.zip`,
    }).save(),
  ).rejects.toThrow(/object not found: .*: upload the artifact before registering the flow/);
});

it("DepPackageModel and DeploymentModel: the guide's dependency package snippets", async () => {
  const org = uniqueOrg("acme-corp");
  const slug = `my-deps-${process.pid}`;
  await new DepPackageModel({
    slug,
    package_s3_uri: `s3://your-artifact-bucket/dep-packages/${slug}.zip`,
    org_id: org,
    version: "1.0.0",
  }).save();

  await new DeploymentModel({
    deployment_name: "production",
    environment: "production",
    dep_package_slugs: [slug],
    org_id: org,
  }).save();

  const deployment = await DeploymentModel.get(org, "production");
  expect(deployment).toMatchObject({ dep_package_slugs: [slug], environment: "production" });
  expect((await DepPackageModel.get(slug))?.created_at).toEqual(expect.any(String));
  expect(await persistence.deployments.resolvePackageUris(org, "production")).toEqual([
    `s3://your-artifact-bucket/dep-packages/${slug}.zip`,
  ]);

  // Another org cannot reference it.
  await expect(
    new DeploymentModel({
      deployment_name: "production",
      environment: "production",
      dep_package_slugs: [slug],
      org_id: uniqueOrg("intruder"),
    }).save(),
  ).rejects.toThrow(ForbiddenError);
});

it("RunModel.get(run_id): the guide's run tracking snippet", async () => {
  const run = newRun();
  await new RunModel(run).save();
  await persistence.runs.transition(run.run_id, "QUEUED", "RUNNING");
  await persistence.runs.transition(run.run_id, "RUNNING", "FAILED", {
    error_message: "extract failed",
  });

  const model = await RunModel.get(run.run_id);
  expect(model.status).toBe("FAILED");
  expect(model.started_at).toEqual(expect.any(String));
  expect(model.completed_at).toEqual(expect.any(String));
  expect(model.error_message).toBe("extract failed");
  await expect(RunModel.get("no-such-run")).rejects.toThrow(RunNotFoundError);
});

describe("persistenceFromEnv", () => {
  it("names the missing variable", () => {
    expect(() => persistenceFromEnv({ DAGY_FLOWS_TABLE: "f" })).toThrow(ConfigurationError);
    expect(() => persistenceFromEnv({ DAGY_FLOWS_TABLE: "f" })).toThrow(
      /DAGY_RUNS_TABLE is not set/,
    );
  });

  it("builds a working Persistence from DAGY_* variables", async () => {
    const { persistence: fromEnv, store } = persistenceFromEnv({
      DAGY_FLOWS_TABLE: env.tables.flows,
      DAGY_RUNS_TABLE: env.tables.runs,
      DAGY_DEPLOYMENTS_TABLE: env.tables.deployments,
      DAGY_DEP_PACKAGES_TABLE: env.tables.depPackages,
      DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
      DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
    });
    const run = newRun();
    await persistence.runs.create(run);
    expect((await fromEnv.runs.get(run.run_id))?.run_id).toBe(run.run_id);
    fromEnv.doc.destroy();
    store.s3.destroy();
  });
});
