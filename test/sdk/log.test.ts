import { createJsonLogger, safeStringify } from "../../lib/log";

function capture() {
  const lines: string[] = [];
  return {
    lines,
    write: (line: string) => lines.push(line),
    parsed: (): Array<Record<string, unknown>> =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("createJsonLogger", () => {
  test("writes one JSON object per line with the base fields on every line", () => {
    const out = capture();
    const log = createJsonLogger({ run_id: "r1", org_id: "acme", flow_name: "etl" }, out.write);
    log.info("started", { rows: 3 });
    log.error("broke", { error: new Error("disk full") });
    expect(out.lines.every((l) => !l.includes("\n"))).toBe(true);
    const [first, second] = out.parsed();
    expect(first).toEqual({
      timestamp: expect.any(String),
      level: "info",
      message: "started",
      run_id: "r1",
      org_id: "acme",
      flow_name: "etl",
      rows: 3,
    });
    expect(second).toMatchObject({
      level: "error",
      error: { name: "Error", message: "disk full" },
    });
  });

  test("child loggers add fields and keep the parent's", () => {
    const out = capture();
    const log = createJsonLogger({ run_id: "r1" }, out.write).child({ task_id: "load" });
    log.warn("slow");
    expect(out.parsed()[0]).toMatchObject({ level: "warn", run_id: "r1", task_id: "load" });
  });

  test("events are written with the base fields and the event's own", () => {
    const out = capture();
    const log = createJsonLogger({ run_id: "r1", org_id: "acme" }, out.write);
    log.event({
      event_type: "task_failed",
      timestamp: "2024-01-01T00:00:00.000Z",
      run_id: "r1",
      task_id: "load",
      error: "boom",
    });
    expect(out.parsed()[0]).toEqual({
      run_id: "r1",
      org_id: "acme",
      event_type: "task_failed",
      timestamp: "2024-01-01T00:00:00.000Z",
      task_id: "load",
      error: "boom",
    });
  });

  test("redacted values never appear, even JSON-escaped or added later through a child", () => {
    const out = capture();
    const log = createJsonLogger({ run_id: "r1" }, out.write, { redact: ["hunter2"] });
    const child = child_of(log);
    log.redact(['pa"ss\\word', ""]);
    child.info("connecting with hunter2", {
      password: 'pa"ss\\word',
      nested: { token: "xhunter2x" },
    });
    log.event({
      event_type: "task_failed",
      timestamp: "t",
      run_id: "r1",
      error: "auth failed for hunter2",
      stack: "Error: hunter2\n    at x",
    });
    const text = out.lines.join("\n");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("ss\\\\word");
    const [line, event] = out.parsed();
    expect(line).toMatchObject({
      message: "connecting with ***",
      password: "***",
      nested: { token: "x***x" },
    });
    expect(event).toMatchObject({ error: "auth failed for ***" });
  });

  test("a longer secret containing a shorter one is replaced whole", () => {
    const out = capture();
    const log = createJsonLogger({}, out.write, { redact: ["abc", "abcdef"] });
    log.info("abcdef abc");
    expect(out.parsed()[0]).toMatchObject({ message: "*** ***" });
  });

  test("writes to stdout by default", () => {
    const write = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    createJsonLogger({ run_id: "r1" }).info("hi");
    expect(write).toHaveBeenCalledTimes(1);
    const written = String(write.mock.calls[0]![0]);
    write.mockRestore();
    expect(written.endsWith("\n")).toBe(true);
    expect(JSON.parse(written)).toMatchObject({ message: "hi", run_id: "r1" });
  });
});

function child_of(log: ReturnType<typeof createJsonLogger>) {
  return log.child({ task_id: "connect" });
}

test("safeStringify survives cycles and bigints", () => {
  const value: Record<string, unknown> = { n: BigInt(5) };
  value["self"] = value;
  expect(JSON.parse(safeStringify(value))).toEqual({ n: "5", self: "[Circular]" });
});
