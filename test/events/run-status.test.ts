/** `Dagy Run Status Change`: what is announced, when, and that announcing never fails a write. */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import { putEventsWith } from "../../lib/events/eventbridge";
import {
  announceTerminalTransitions,
  createRunStatusAnnouncer,
  RUN_STATUS_DETAIL_TYPE,
  type TransitioningRunStore,
} from "../../lib/events/run-status";
import type { RunRecord } from "../../lib/persistence/records";
import type { RunStatus } from "../../lib/persistence/schema";

const events = mockClient(EventBridgeClient);
afterEach(() => events.reset());
afterAll(() => events.restore());

const RUN = {
  run_id: "0b6f3c1e-2d4a-4f5b-9c8d-7e6f5a4b3c2d",
  org_id: "acme-corp",
  flow_name: "etl_pipeline",
  flow_version: "1.0.0",
  environment: "production",
  created_at: "2024-03-14T09:00:00.000Z",
  started_at: "2024-03-14T09:00:10.000Z",
} as RunRecord;

function store(status: RunStatus, fields: Partial<RunRecord> = {}): TransitioningRunStore {
  return {
    transition: async (_id, _from, to) => ({
      ...RUN,
      status: to === status ? to : status,
      ...fields,
    }),
  };
}

function recorder() {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = (message: string, fields?: Record<string, unknown>) =>
    lines.push({ message, ...(fields ? { fields } : {}) });
  return { lines, logger: { info: log, warn: log } };
}

describe("run status events", () => {
  it("puts one event on the default bus, logs it and counts it when a run becomes FAILED", async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "1" }] });
    const { lines, logger } = recorder();
    const metrics: string[] = [];
    const runs = announceTerminalTransitions(
      store("FAILED", {
        completed_at: "2024-03-14T09:01:10.000Z",
        error_message: "Task load failed: timeout",
      }),
      createRunStatusAnnouncer({
        logger,
        putEvents: putEventsWith(new EventBridgeClient({ region: "us-east-1" })),
        metrics: (line) => metrics.push(line),
      }),
    );
    await runs.transition(RUN.run_id, "RUNNING", "FAILED");
    const calls = events.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    const entry = calls[0]!.args[0].input.Entries![0]!;
    // No EventBusName: the account's default bus, the one users' rules listen on.
    expect(entry).toEqual({
      Source: "dagy",
      DetailType: RUN_STATUS_DETAIL_TYPE,
      Detail: expect.any(String) as string,
    });
    expect(JSON.parse(entry.Detail!)).toEqual({
      run_id: RUN.run_id,
      flow_name: "etl_pipeline",
      flow_version: "1.0.0",
      org_id: "acme-corp",
      environment: "production",
      status: "FAILED",
      error_message: "Task load failed: timeout",
      duration_ms: 60_000,
      created_at: RUN.created_at,
      completed_at: "2024-03-14T09:01:10.000Z",
    });
    expect(lines[0]?.fields).toMatchObject({ event_type: "run_status_change", status: "FAILED" });
    expect(JSON.parse(metrics[0]!)).toMatchObject({
      RunsFailed: 1,
      Environment: "production",
      _aws: { CloudWatchMetrics: [{ Namespace: "Dagy", Dimensions: [["Environment"]] }] },
    });
  });

  it("announces nothing for a non-terminal transition or one that lost its condition", async () => {
    const { lines, logger } = recorder();
    const announce = createRunStatusAnnouncer({
      logger,
      putEvents: putEventsWith(new EventBridgeClient({ region: "us-east-1" })),
    });
    await announceTerminalTransitions(store("RUNNING"), announce).transition(
      RUN.run_id,
      "QUEUED",
      "RUNNING",
    );
    const lostCondition: TransitioningRunStore = { transition: async () => undefined };
    await announceTerminalTransitions(lostCondition, announce).transition(
      RUN.run_id,
      "RUNNING",
      "SUCCEEDED",
    );
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
    expect(lines).toEqual([]);
  });

  it("logs, never throws, when EventBridge refuses: the run's write stands", async () => {
    events.on(PutEventsCommand).rejects(new Error("AccessDeniedException"));
    const { lines, logger } = recorder();
    const runs = announceTerminalTransitions(
      store("SUCCEEDED"),
      createRunStatusAnnouncer({
        logger,
        putEvents: putEventsWith(new EventBridgeClient({ region: "us-east-1" })),
      }),
    );
    await expect(runs.transition(RUN.run_id, "RUNNING", "SUCCEEDED")).resolves.toMatchObject({
      status: "SUCCEEDED",
    });
    expect(lines.map((l) => l.fields?.event_type)).toEqual([
      "run_status_change",
      "run_status_event_failed",
    ]);
  });
});
