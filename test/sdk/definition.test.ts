import { collectDags, dag, DagDefinitionError, isDag, runDag, task, type TaskRef } from "dagy";

const extract = task("extract", async (input: { source: string }) => [input.source]);
const transform = task("transform", async (rows: string[]) => rows.length);
const load = task("load", async (input: { count: number; destination: string }) => input);
const noInput = task("noop", () => undefined);

function definitionError(fn: () => unknown): DagDefinitionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DagDefinitionError);
    return error as DagDefinitionError;
  }
  throw new Error("expected a DagDefinitionError");
}

describe("task ids", () => {
  test("default to the task name, repeats get _2, _3", () => {
    const d = dag("ids", {}, () => {
      const rows = extract({ source: "a" });
      transform(rows);
      transform(rows);
      transform(rows, { id: "custom" });
      transform(rows);
    });
    expect(d.nodes.map((n) => n.id)).toEqual([
      "extract",
      "transform",
      "transform_2",
      "custom",
      "transform_3",
    ]);
    expect(d.nodes.map((n) => n.task)).toEqual([
      "extract",
      "transform",
      "transform",
      "transform",
      "transform",
    ]);
  });

  test("an explicit id that collides is rejected, naming the id", () => {
    const error = definitionError(() =>
      dag("dup", {}, () => {
        const rows = extract({ source: "a" });
        transform(rows);
        transform(rows, { id: "transform_2" });
        transform(rows, { id: "transform_2" });
      }),
    );
    expect(error.message).toContain('DAG "dup": duplicate task id "transform_2"');
  });

  test("an invalid explicit id is rejected with the allowed alphabet", () => {
    const error = definitionError(() => dag("bad_id", {}, () => noInput(undefined, { id: "a b" })));
    expect(error.message).toContain('invalid task id "a b"');
    expect(error.message).toContain("A-Z a-z 0-9 _ . -");
  });

  test("a task-level id replaces the name as the base of node ids", () => {
    const t = task("long_task_name", () => 1, { id: "short" });
    const d = dag("base_ids", {}, () => {
      t();
      t();
    });
    expect(d.nodes.map((n) => n.id)).toEqual(["short", "short_2"]);
  });
});

describe("definition errors", () => {
  test("a task called outside a builder points to t.fn", () => {
    const error = definitionError(() => transform(["x"]));
    expect(error.message).toContain('task "transform" was called outside a dag() builder');
    expect(error.message).toContain("transform.fn(input, ctx)");
  });

  test("the task function can be called directly through .fn", async () => {
    await expect(transform.fn(["a", "b"], undefined as never)).resolves.toBe(2);
  });

  test("a reference from another DAG names both DAGs and the task", () => {
    let foreign: TaskRef<string[]> | undefined;
    dag("first", {}, () => {
      foreign = extract({ source: "a" });
    });
    const error = definitionError(() =>
      dag("second", {}, () => {
        transform(foreign!);
      }),
    );
    expect(error.message).toBe(
      'DAG "second", task "transform": the input refers to task "extract" of another DAG ' +
        '"first"; a DAG can only use the results of its own tasks',
    );
  });

  test("a reference from another DAG nested deep in the input is found too", () => {
    let foreign: TaskRef<string[]> | undefined;
    dag("first_nested", {}, () => {
      foreign = extract({ source: "a" });
    });
    const generic = task("generic", (input: unknown) => input);
    const error = definitionError(() =>
      dag("second_nested", {}, () => {
        generic({ a: [{ b: foreign }] });
      }),
    );
    expect(error.message).toContain('refers to task "extract" of another DAG "first_nested"');
  });

  test("a template naming an undeclared parameter lists the declared ones", () => {
    const error = definitionError(() =>
      dag("undeclared", { parameters: { source: {}, limit: { default: 1 } } }, () => {
        extract({ source: "{{ parameters.sauce }}" });
      }),
    );
    expect(error.message).toBe(
      'DAG "undeclared", task "extract": template uses undeclared parameter "sauce"; ' +
        "declared parameters: limit, source",
    );
  });

  test("nested dag() calls are rejected, naming both DAGs", () => {
    const error = definitionError(() =>
      dag("outer", {}, () => {
        noInput();
        dag("inner", {}, () => noInput());
      }),
    );
    expect(error.message).toBe(
      'DAG "inner" is defined inside the builder of DAG "outer"; dag() calls cannot be nested',
    );
  });

  test("the builder state is reset after a failing builder", () => {
    definitionError(() =>
      dag("broken", {}, () => {
        throw new DagDefinitionError("boom");
      }),
    );
    expect(() => noInput()).toThrow(/outside a dag\(\) builder/);
    expect(dag("after_broken", {}, () => noInput()).nodes).toHaveLength(1);
  });

  test("a DAG with no tasks is rejected", () => {
    const error = definitionError(() => dag("empty", {}, () => {}));
    expect(error.message).toBe('DAG "empty" has no tasks; call at least one task in its builder');
  });

  test("an async builder is rejected", () => {
    const error = definitionError(() =>
      // The mistake under test: an async builder where a synchronous one is required.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      dag("async_builder", {}, async () => {
        noInput();
      }),
    );
    expect(error.message).toContain("the builder returned a promise; it must be synchronous");
  });

  test("invalid DAG and task names are rejected", () => {
    expect(definitionError(() => dag("has space", {}, () => noInput())).message).toContain(
      'invalid DAG name "has space"',
    );
    expect(definitionError(() => task("a/b", () => 1)).message).toContain(
      'invalid task name "a/b"',
    );
  });

  test("invalid task options name the option and the allowed range", () => {
    expect(definitionError(() => task("t", () => 1, { retries: -1 })).message).toBe(
      'task "t": option retries must be an integer >= 0 and <= 1000, got -1',
    );
    const error = definitionError(() =>
      dag("bad_call", {}, () => noInput(undefined, { timeoutMs: 0 })),
    );
    expect(error.message).toContain("option timeoutMs must be a number > 0");
    expect(definitionError(() => task("t", () => 1, { retires: 2 } as never)).message).toContain(
      'unknown option "retires"',
    );
  });

  test("invalid DAG options and parameter declarations are rejected", () => {
    expect(
      definitionError(() => dag("v", { version: "1.0/evil" }, () => noInput())).message,
    ).toContain('invalid version "1.0/evil"');
    expect(
      definitionError(() => dag("p", { maxParallelism: 0 }, () => noInput())).message,
    ).toContain("maxParallelism must be an integer >= 1, got 0");
    expect(
      definitionError(() =>
        dag("d", { parameters: { n: { type: "integer", default: "3" } } }, () => noInput()),
      ).message,
    ).toBe('DAG "d": parameter "n": the default must be of type integer, got string');
    expect(
      definitionError(() =>
        dag("t", { parameters: { n: { type: "float" as never } } }, () => noInput()),
      ).message,
    ).toContain("type must be one of string, number, integer, boolean, object, array");
    expect(
      definitionError(() => dag("n", { parameters: { "bad-name": {} } }, () => noInput())).message,
    ).toContain('parameter "bad-name": invalid name');
  });

  test("`after` accepts only references of the same DAG", () => {
    const error = definitionError(() =>
      dag("after_bad", {}, () => {
        noInput(undefined, { after: ["extract" as never] });
      }),
    );
    expect(error.message).toContain("option after must hold only task references");
  });
});

describe("toSpec", () => {
  test("writes references as $ref, sorts edges, spells out option defaults", () => {
    const report = task("report", async (_: { parts: number[]; total: number }) => "ok", {
      retries: 2,
      timeoutMs: 5000,
    });
    const d = dag(
      "etl_pipeline",
      {
        version: "1.2.3",
        description: "moves rows",
        maxParallelism: 4,
        tags: { team: "data" },
        parameters: {
          source: { type: "string", description: "input path" },
          limit: { type: "integer", default: 10 },
          note: { required: false },
        },
      },
      () => {
        const rows = extract({ source: "{{ parameters.source }}" });
        const count = transform(rows);
        const side = noInput(undefined, { id: "audit" });
        load({ count, destination: "s3://out/{{ parameters.source }}" }, { after: [side] });
        report({ parts: [count, 2], total: count }, { retries: 5, backoffFactor: 3 });
      },
    );
    const spec = d.toSpec();
    expect(spec).toEqual({
      spec_version: 1,
      name: "etl_pipeline",
      version: "1.2.3",
      description: "moves rows",
      parameters: {
        source: { type: "string", description: "input path", required: true },
        limit: { type: "integer", default: 10, required: false },
        note: { required: false },
      },
      max_parallelism: 4,
      tags: { team: "data" },
      tasks: [
        {
          id: "extract",
          task: "extract",
          upstream: [],
          options: {
            retries: 0,
            retry_delay_ms: 1000,
            backoff_factor: 2,
            max_retry_delay_ms: 60000,
          },
          input: { source: "{{ parameters.source }}" },
        },
        {
          id: "transform",
          task: "transform",
          upstream: ["extract"],
          options: {
            retries: 0,
            retry_delay_ms: 1000,
            backoff_factor: 2,
            max_retry_delay_ms: 60000,
          },
          input: { $ref: "extract" },
        },
        {
          id: "audit",
          task: "noop",
          upstream: [],
          options: {
            retries: 0,
            retry_delay_ms: 1000,
            backoff_factor: 2,
            max_retry_delay_ms: 60000,
          },
        },
        {
          id: "load",
          task: "load",
          upstream: ["audit", "transform"],
          options: {
            retries: 0,
            retry_delay_ms: 1000,
            backoff_factor: 2,
            max_retry_delay_ms: 60000,
          },
          input: { count: { $ref: "transform" }, destination: "s3://out/{{ parameters.source }}" },
        },
        {
          id: "report",
          task: "report",
          upstream: ["transform"],
          options: {
            retries: 5,
            retry_delay_ms: 1000,
            backoff_factor: 3,
            max_retry_delay_ms: 60000,
            timeout_ms: 5000,
          },
          input: { parts: [{ $ref: "transform" }, 2], total: { $ref: "transform" } },
        },
      ],
      edges: [
        ["audit", "load"],
        ["extract", "transform"],
        ["transform", "load"],
        ["transform", "report"],
      ],
    });
    // The spec is plain JSON: it survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  test("version defaults to 0.0.0 and parameters to none", () => {
    const spec = dag("minimal", {}, () => noInput()).toSpec();
    expect(spec.version).toBe("0.0.0");
    expect(spec.parameters).toEqual({});
    expect(spec).not.toHaveProperty("max_parallelism");
  });

  test("an input that is not JSON fails with the task named", () => {
    const generic = task("generic", (input: unknown) => input);
    const d = dag("bigint", {}, () => generic({ n: BigInt(1) }));
    expect(() => d.toSpec()).toThrow(
      /DAG "bigint", task "generic": the input cannot be written to flow_spec.json as JSON/,
    );
  });
});

test("toMermaid draws every task and sorted edges", () => {
  const d = dag("etl", {}, () => {
    const rows = extract({ source: "x" });
    const n = transform(rows);
    transform(rows);
    load({ count: n, destination: "y" });
  });
  expect(d.toMermaid()).toBe(
    [
      "%% etl 0.0.0",
      "flowchart TD",
      '  t0["extract"]',
      '  t1["transform"]',
      '  t2["transform_2 (transform)"]',
      '  t3["load"]',
      "  t0 --> t1",
      "  t0 --> t2",
      "  t1 --> t3",
      "",
    ].join("\n"),
  );
});

describe("collectDags", () => {
  test("returns every DAG defined while loading, and the loader's result", () => {
    const { result, dags } = collectDags(() => {
      dag("one", {}, () => noInput());
      dag("two", {}, () => noInput());
      return 42;
    });
    expect(result).toBe(42);
    expect(dags.map((d) => d.name)).toEqual(["one", "two"]);
    // Outside collectDags nothing is recorded any more.
    const { dags: none } = collectDags(() => undefined);
    dag("three", {}, () => noInput());
    expect(none).toEqual([]);
  });

  test("sees DAGs defined by a separately loaded copy of the SDK, which runDag can run", async () => {
    let copy: typeof import("dagy") | undefined;
    jest.isolateModules(() => {
      copy = jest.requireActual<typeof import("dagy")>("../../lib/sdk/index.ts");
    });
    expect(copy!.dag).not.toBe(dag);
    const show = task("show", (n: number) => `n=${n}`);
    const { dags } = collectDags(() => {
      const double = copy!.task("double", (n: number) => n * 2);
      // A task of this copy inside the other copy's builder, fed by the other copy's reference.
      copy!.dag("bundled", {}, () => show(double(21)));
    });
    expect(dags).toHaveLength(1);
    expect(isDag(dags[0])).toBe(true);
    const run = await runDag(dags[0]!);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.outputs).toEqual({ double: 42, show: "n=42" });
  });
});
