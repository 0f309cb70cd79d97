/**
 * CloudWatch Logs shipping: the run's events land in the stream named by the run id, in
 * PutLogEvents batches within the service limits, and a shipping failure never throws.
 */
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-cloudwatch-logs";
import { mockClient } from "aws-sdk-client-mock";
import { CloudWatchLogShipper, LOG_BATCH_LIMITS } from "../../lib/worker/log-shipper";

const cwl = mockClient(CloudWatchLogsClient);
const client = new CloudWatchLogsClient({ region: "us-east-1" });

beforeEach(() => {
  cwl.reset();
  cwl.on(CreateLogStreamCommand).resolves({});
  cwl.on(PutLogEventsCommand).resolves({});
});

function shipper(onError: (message: string) => void = () => {}) {
  return new CloudWatchLogShipper({
    client,
    logGroupName: "/ecs/dagy-worker",
    logStreamName: "run-123",
    onError,
  });
}

describe("CloudWatchLogShipper", () => {
  it("creates the run's stream once and puts the events in timestamp order", async () => {
    const s = shipper();
    s.add('{"event_type":"task_started"}', 1_700_000_000_200);
    s.add('{"event_type":"run_started"}', 1_700_000_000_100);
    await s.flush();
    s.add('{"event_type":"run_succeeded"}', 1_700_000_000_300);
    await s.close();

    expect(cwl.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: "/ecs/dagy-worker", logStreamName: "run-123" },
    ]);
    expect(cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input)).toEqual([
      {
        logGroupName: "/ecs/dagy-worker",
        logStreamName: "run-123",
        logEvents: [
          { timestamp: 1_700_000_000_100, message: '{"event_type":"run_started"}' },
          { timestamp: 1_700_000_000_200, message: '{"event_type":"task_started"}' },
        ],
      },
      {
        logGroupName: "/ecs/dagy-worker",
        logStreamName: "run-123",
        logEvents: [{ timestamp: 1_700_000_000_300, message: '{"event_type":"run_succeeded"}' }],
      },
    ]);
  });

  it("accepts a stream that already exists (a retried worker)", async () => {
    cwl
      .on(CreateLogStreamCommand)
      .rejects(new ResourceAlreadyExistsException({ message: "exists", $metadata: {} }));
    const errors: string[] = [];
    const s = shipper((m) => errors.push(m));
    s.add("line", 1);
    await s.close();
    expect(errors).toEqual([]);
    expect(cwl.commandCalls(PutLogEventsCommand)).toHaveLength(1);
  });

  it("splits at 10,000 events per call", async () => {
    const s = shipper();
    for (let i = 0; i < 10_001; i++) s.add(`e${i}`, 1_000 + i);
    await s.close();
    const calls = cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input.logEvents!);
    expect(calls.map((events) => events.length)).toEqual([10_000, 1]);
    expect(calls[1]![0]).toEqual({ timestamp: 11_000, message: "e10000" });
  });

  it("splits at 1 MB per call, counting 26 bytes per event, and cuts oversized messages", async () => {
    const s = shipper();
    const big = "x".repeat(300 * 1024);
    for (let i = 0; i < 5; i++) s.add(big, 1_000 + i);
    await s.close();
    const calls = cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input.logEvents!);
    for (const events of calls) {
      const bytes = events.reduce(
        (sum, e) => sum + Buffer.byteLength(e.message!) + LOG_BATCH_LIMITS.eventOverheadBytes,
        0,
      );
      expect(bytes).toBeLessThanOrEqual(LOG_BATCH_LIMITS.maxBytes);
    }
    const all = calls.flat();
    expect(all).toHaveLength(5);
    expect(calls.length).toBeGreaterThan(1);
    for (const e of all) {
      expect(Buffer.byteLength(e.message!)).toBeLessThanOrEqual(LOG_BATCH_LIMITS.maxEventBytes);
      expect(e.message!.endsWith("…[truncated]")).toBe(true);
    }
  });

  it("reports a failing PutLogEvents without throwing, retries, then drops the batch", async () => {
    cwl.on(PutLogEventsCommand).rejects(new Error("ThrottlingException: slow down"));
    const errors: string[] = [];
    const s = shipper((m) => errors.push(m));
    s.add("one", 1);
    await expect(s.flush()).resolves.toBeUndefined();
    await expect(s.flush()).resolves.toBeUndefined();
    await expect(s.close()).resolves.toBeUndefined();
    expect(cwl.commandCalls(PutLogEventsCommand)).toHaveLength(3);
    expect(errors).toEqual([
      "could not ship 1 log events",
      "could not ship 1 log events",
      "could not ship 1 log events",
      "dropped 1 log events after 3 failed attempts",
    ]);
  });

  it("keeps events while the stream cannot be created and reports it", async () => {
    cwl.on(CreateLogStreamCommand).rejects(new Error("AccessDeniedException"));
    const errors: string[] = [];
    const s = shipper((m) => errors.push(m));
    s.add("one", 1);
    await s.flush();
    expect(errors).toEqual(["could not create log stream run-123 in /ecs/dagy-worker"]);
    expect(cwl.commandCalls(PutLogEventsCommand)).toHaveLength(0);

    cwl.on(CreateLogStreamCommand).resolves({});
    await s.close();
    expect(cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input.logEvents)).toEqual([
      [{ timestamp: 1, message: "one" }],
    ]);
  });
});
