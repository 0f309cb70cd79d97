/**
 * ComputeBackend.place (issue #14): a backend that knows the task before starting it has the
 * run's first attempt written with the QUEUED record, and nothing is written after the start
 * (a warm worker's claim used to wait behind the launcher's own attempt write). Every way the
 * launch can stop between placement and start gives the placement back. A placement that
 * starts claimed (a worker held for the run alone) has the run written RUNNING in that one write
 * and is handed the stored record; spilled parameters or a failed start keep the usual path.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { ComputeBackend, Placement, SubmitResult, WorkerLaunchSpec } from "../../lib/launcher";
import { ObjectStore } from "../../lib/storage/object-store";
import type { RunRecord } from "../../lib/persistence/records";
import { RunRepository } from "../../lib/persistence/runs";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { makeLauncher, newOrg, registerFlow, runsOf } from "./support";

let env: TestEnv;

beforeAll(async () => {
  env = await startTestEnv();
}, 60_000);
afterAll(async () => {
  await env.close();
});

/** A backend that places runs (as LocalBackend does) and records what happened to each. */
class PlacingBackend implements ComputeBackend {
  readonly events: string[] = [];
  /** The run as stored when `start` was called. */
  readonly atStart: Array<RunRecord | undefined> = [];
  /** The record each `start` was handed (a claimed start), or null. */
  readonly handed: Array<RunRecord | null> = [];
  submitted = 0;
  constructor(
    private readonly behaviour: {
      readonly startMode?: "warm" | "cold";
      readonly placeThrows?: string;
      readonly startThrows?: string;
      readonly submitThrows?: string;
      readonly startsClaimed?: boolean;
    } = {},
  ) {}

  place(spec: WorkerLaunchSpec): Placement {
    if (this.behaviour.placeThrows !== undefined) throw new Error(this.behaviour.placeThrows);
    const taskArn = `local:${spec.runId}`;
    this.events.push(`place ${spec.runId}`);
    return {
      taskArn,
      logStream: `/logs/${spec.runId}.log`,
      ...(this.behaviour.startMode !== undefined ? { startMode: this.behaviour.startMode } : {}),
      ...(this.behaviour.startsClaimed === true ? { startsClaimed: true } : {}),
      start: async (claimed?: RunRecord) => {
        this.events.push(`start ${spec.runId}`);
        this.handed.push(claimed ?? null);
        const out = await env.clients.doc.send(
          new GetCommand({
            TableName: env.tables.runs,
            Key: { run_id: spec.runId },
            ConsistentRead: true,
          }),
        );
        this.atStart.push(out.Item as RunRecord | undefined);
        if (this.behaviour.startThrows !== undefined) throw new Error(this.behaviour.startThrows);
      },
      abandon: () => this.events.push(`abandon ${spec.runId}`),
    };
  }

  async submit(spec: WorkerLaunchSpec): Promise<SubmitResult> {
    this.submitted++;
    if (this.behaviour.submitThrows !== undefined) throw new Error(this.behaviour.submitThrows);
    return { taskArn: `local:${spec.runId}` };
  }

  async stop(): Promise<void> {}
}

/** Counts the DynamoDB commands sent while `body` runs. */
async function dynamoCalls(body: () => Promise<unknown>): Promise<string[]> {
  const calls: string[] = [];
  env.clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(String(context.commandName));
      return next(args);
    },
    { step: "initialize", name: "countPlacementCalls" },
  );
  try {
    await body();
  } finally {
    env.clients.dynamodb.middlewareStack.remove("countPlacementCalls");
  }
  return calls;
}

/** Launches etl_pipeline for a new org on `backend`; the DynamoDB calls the launch made. */
async function launchCounting(backend: PlacingBackend) {
  const org = newOrg();
  await registerFlow(env, org, "etl_pipeline", "1.0.0");
  const launcher = makeLauncher(env, {}, { backend });
  let result: Awaited<ReturnType<typeof launcher.launch>> | undefined;
  const calls = await dynamoCalls(async () => {
    result = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
  });
  return { result, calls };
}

describe("launching on a backend that places runs", () => {
  it("writes the first attempt with the QUEUED record and nothing after the start", async () => {
    const backend = new PlacingBackend({ startMode: "warm" });
    const { result, calls } = await launchCounting(backend);
    // The flow read and the run's one write; start's own read is not the launcher's.
    expect(calls.filter((c) => c !== "GetItemCommand")).toEqual(["QueryCommand", "PutItemCommand"]);
    expect(result).toMatchObject({ success: true, taskArn: `local:${result!.runId}` });
    expect(backend.submitted).toBe(0);
    expect(backend.events).toEqual([`place ${result!.runId}`, `start ${result!.runId}`]);

    // What the worker's claim finds: its task and how it started, already on record.
    const seen = backend.atStart[0]!;
    expect(seen.status).toBe("QUEUED");
    expect(seen.task_arn).toBe(`local:${result!.runId}`);
    expect(seen.log_stream).toBe(`/logs/${result!.runId}.log`);
    expect(seen.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        task_arn: `local:${result!.runId}`,
        start_mode: "warm",
      }),
    ]);
    expect(seen.attempts![0]!.started_at).toBe(seen.created_at);
  });

  it("records no start_mode when the backend has not settled it (a run waiting for a slot)", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const backend = new PlacingBackend();
    const result = await makeLauncher(env, {}, { backend }).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    const [run] = await runsOf(env, org);
    expect(run!.attempts).toHaveLength(1);
    expect(run!.attempts![0]).not.toHaveProperty("start_mode");
    expect(run!.attempts![0]!.task_arn).toBe(`local:${result.runId}`);
  });

  it("ends the run FAILED with the reason when the start throws, and gives the placement back", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const backend = new PlacingBackend({
      startMode: "cold",
      startThrows: "the local backend is closed",
    });
    const result = await makeLauncher(env, {}, { backend }).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({ success: false, errorMessage: "the local backend is closed" });
    expect(backend.events).toEqual([
      `place ${result.runId}`,
      `start ${result.runId}`,
      `abandon ${result.runId}`,
    ]);
    const [run] = await runsOf(env, org);
    expect(run).toMatchObject({ status: "FAILED", error_message: "the local backend is closed" });
  });

  it("falls back to submit when placing is refused, so the refusal is on the run's record", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const backend = new PlacingBackend({
      placeThrows: "secret X is not in the local secrets file",
      submitThrows: "secret X is not in the local secrets file",
    });
    const result = await makeLauncher(env, {}, { backend }).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({
      success: false,
      errorMessage: "secret X is not in the local secrets file",
    });
    expect(backend.submitted).toBe(1);
    const [run] = await runsOf(env, org);
    expect(run).toMatchObject({ status: "FAILED" });
    expect(run!.attempts ?? []).toEqual([]);
  });

  it("gives the placement back when the run cannot be written", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const backend = new PlacingBackend({ startMode: "warm" });
    // The id of a run that exists already: the QUEUED write is refused.
    const taken = `run-${org}`;
    const launcher = makeLauncher(env, {}, { backend, ids: [taken, taken] });
    const first = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(first.success).toBe(true);
    await expect(
      launcher.launch({ flowName: "etl_pipeline", orgId: org, parameters: { date: "e" } }),
    ).rejects.toThrow(/already exists/);
    expect(backend.events).toEqual([
      `place ${taken}`,
      `start ${taken}`,
      `place ${taken}`,
      `abandon ${taken}`,
    ]);
  });

  it("gives the placement back when spilling the parameters fails; the run ends FAILED", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const backend = new PlacingBackend({ startMode: "warm" });
    const real = new ObjectStore(env.clients.s3);
    const store = {
      get: (uri: string) => real.get(uri),
      put: async () => {
        throw new Error("S3 is unavailable");
      },
    };
    // Over the run record's room for parameters: they go to S3.
    const parameters = {
      rows: Array.from({ length: 4000 }, (_, i) => `row-${i}-${"x".repeat(80)}`),
    };
    const result = await makeLauncher(env, {}, { backend, store }).launch({
      flowName: "bulk",
      orgId: org,
      parameters,
    });
    expect(result).toMatchObject({ success: false, errorMessage: "S3 is unavailable" });
    expect(backend.events).toEqual([`place ${result.runId}`, `abandon ${result.runId}`]);
    const [run] = await runsOf(env, org);
    expect(run).toMatchObject({ status: "FAILED", error_message: "S3 is unavailable" });
  });

  it("writes a run whose worker is held for it alone RUNNING, and hands the worker that record", async () => {
    const backend = new PlacingBackend({ startMode: "warm", startsClaimed: true });
    const { result, calls } = await launchCounting(backend);
    // One write from request to running worker: no claim by the worker, none after the start.
    expect(calls.filter((c) => c !== "GetItemCommand")).toEqual(["QueryCommand", "PutItemCommand"]);
    expect(result).toMatchObject({ success: true });
    const stored = backend.atStart[0]!;
    expect(stored).toMatchObject({
      status: "RUNNING",
      task_arn: `local:${result!.runId}`,
      attempts: [expect.objectContaining({ attempt: 1, start_mode: "warm" })],
    });
    expect(stored.started_at).toBe(stored.created_at);
    // The worker is handed the run as a read returns it: it adopts it rather than claiming.
    const read = await new RunRepository(env.clients.doc, env.tables.runs).get(result!.runId);
    expect(backend.handed).toEqual([read]);
  });

  it("ends a run written claimed FAILED with the reason when its start throws", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const backend = new PlacingBackend({
      startMode: "warm",
      startsClaimed: true,
      startThrows: "the local backend is closed",
    });
    const result = await makeLauncher(env, {}, { backend }).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({ success: false, errorMessage: "the local backend is closed" });
    expect(backend.events.at(-1)).toBe(`abandon ${result.runId}`);
    const [run] = await runsOf(env, org);
    expect(run).toMatchObject({ status: "FAILED", error_message: "the local backend is closed" });
    expect(run!.completed_at).toEqual(expect.any(String));
  });

  it("writes a run with spilled parameters QUEUED even on a held worker: it claims once they are stored", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const backend = new PlacingBackend({ startMode: "warm", startsClaimed: true });
    const parameters = {
      rows: Array.from({ length: 4000 }, (_, i) => `row-${i}-${"x".repeat(80)}`),
    };
    const result = await makeLauncher(
      env,
      {},
      {
        backend,
        store: new ObjectStore(env.clients.s3),
      },
    ).launch({ flowName: "bulk", orgId: org, parameters });
    expect(result.success).toBe(true);
    expect(backend.atStart[0]).toMatchObject({ status: "QUEUED" });
    expect(backend.atStart[0]!.parameters_uri).toEqual(expect.stringContaining(result.runId));
    expect(backend.handed).toEqual([null]);
  });
});
