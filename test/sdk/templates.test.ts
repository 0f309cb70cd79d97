import { dag, resolveParameters, runDag, task, ValidationError, type Json } from "dagy";

const echo = task("echo", (input: unknown) => input);

async function echoed(input: unknown, parameters: Record<string, Json>, runId = "run-1") {
  const d = dag("templating", {}, () => echo(input));
  const result = await runDag(d, { parameters, runId });
  if (result.status !== "SUCCEEDED") throw result.error ?? new Error(result.status);
  return result.outputs["echo"];
}

describe("templates", () => {
  test("a string that is exactly one template keeps the parameter's JSON type", async () => {
    const parameters = { n: 3, flag: false, cfg: { bucket: "b", keys: [1, 2] }, none: null };
    await expect(
      echoed(
        {
          n: "{{ parameters.n }}",
          flag: "{{parameters.flag}}",
          cfg: "{{   parameters.cfg   }}",
          none: "{{ parameters.none }}",
        },
        parameters,
      ),
    ).resolves.toEqual({ n: 3, flag: false, cfg: { bucket: "b", keys: [1, 2] }, none: null });
  });

  test("nested paths reach into object and array parameters", async () => {
    await expect(
      echoed(["{{ parameters.cfg.bucket }}", "{{ parameters.cfg.keys.1 }}"], {
        cfg: { bucket: "b", keys: [1, 2] },
      }),
    ).resolves.toEqual(["b", 2]);
  });

  test("templates inside longer strings are interpolated, non-strings as JSON", async () => {
    await expect(
      echoed("s3://{{ parameters.bucket }}/{{ parameters.n }}/{{ parameters.cfg }}-{{ run_id }}", {
        bucket: "out",
        n: 7,
        cfg: { a: 1 },
      }),
    ).resolves.toBe('s3://out/7/{"a":1}-run-1');
  });

  test("run_id is available as a template", async () => {
    await expect(echoed("{{ run_id }}", {}, "abc")).resolves.toBe("abc");
  });

  test("other {{ … }} text is left as written", async () => {
    await expect(echoed("Hello {{ name }} and {{ parameters }}", {})).resolves.toBe(
      "Hello {{ name }} and {{ parameters }}",
    );
  });

  test("inputs without templates or references are passed as the same object", async () => {
    const input = { when: new Date(0), list: [1, 2] };
    await expect(echoed(input, {})).resolves.toBe(input);
  });

  test("a missing nested key fails the task with the template named", async () => {
    const d = dag("missing_key", {}, () => echo("{{ parameters.cfg.bucket }}"));
    const result = await runDag(d, { parameters: { cfg: { region: "x" } } });
    expect(result.status).toBe("FAILED");
    expect(result.tasks["echo"]?.error).toBe(
      'template {{ parameters.cfg.bucket }}: parameters.cfg has no key "bucket"',
    );
  });

  test("a template naming a parameter the run lacks is refused before any task runs", async () => {
    let ran = false;
    const mark = task("mark", () => {
      ran = true;
    });
    const d = dag("lacking", {}, () => {
      mark();
      echo({ path: "{{ parameters.source }}" });
    });
    await expect(runDag(d, { parameters: {} })).rejects.toThrow(
      'task "echo" uses parameter "source" in a template, but the run has no parameter "source"',
    );
    expect(ran).toBe(false);
  });
});

describe("resolveParameters", () => {
  const d = dag(
    "params",
    {
      parameters: {
        source: { type: "string", description: "input file" },
        limit: { type: "integer", default: 10 },
        ratio: { type: "number", required: false },
        cfg: { type: "object", default: { retries: 1 } },
        tags: { type: "array", required: false },
        dry_run: { type: "boolean", default: false },
        anything: { required: false },
      },
    },
    () => echo("{{ parameters.source }}"),
  );

  test("applies defaults and keeps given values and undeclared extras", () => {
    expect(resolveParameters(d, { source: "a.csv", extra: "kept" })).toEqual({
      source: "a.csv",
      limit: 10,
      cfg: { retries: 1 },
      dry_run: false,
      extra: "kept",
    });
  });

  test("defaults are copies: changing one does not change the declaration", () => {
    const first = resolveParameters(d, { source: "a" });
    (first["cfg"] as { retries: number }).retries = 99;
    expect(resolveParameters(d, { source: "a" })["cfg"]).toEqual({ retries: 1 });
  });

  test("works from flow_spec.json as well as from the Dag", () => {
    expect(resolveParameters(d.toSpec(), { source: "a" })).toEqual(
      resolveParameters(d, { source: "a" }),
    );
  });

  test("a missing required parameter is named, with its type and description", () => {
    let error: unknown;
    try {
      resolveParameters(d, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toBe(
      'missing required parameter "source" of type string (input file)',
    );
    expect((error as ValidationError).field).toBe("parameters.source");
  });

  test.each([
    [{ source: 1 }, 'parameter "source" must be of type string, got number'],
    [{ source: "a", limit: 2.5 }, 'parameter "limit" must be of type integer, got non-integer 2.5'],
    [{ source: "a", ratio: "0.5" }, 'parameter "ratio" must be of type number, got string'],
    [{ source: "a", cfg: [1] }, 'parameter "cfg" must be of type object, got array'],
    [{ source: "a", tags: {} }, 'parameter "tags" must be of type array, got object'],
    [{ source: "a", dry_run: "yes" }, 'parameter "dry_run" must be of type boolean, got string'],
    [{ source: "a", cfg: null }, 'parameter "cfg" must be of type object, got null'],
  ])("a wrongly typed parameter is named: %j", (given, message) => {
    expect(() => resolveParameters(d, given as Record<string, Json>)).toThrow(message);
  });

  test("a value that is not JSON is refused", () => {
    expect(() => resolveParameters(d, { source: "a", ratio: Number.NaN })).toThrow(
      'parameter "ratio" must be a JSON value',
    );
  });

  test("runDag validates parameters before any task runs", async () => {
    let ran = false;
    const mark = task("mark", () => {
      ran = true;
    });
    const strict = dag("strict", { parameters: { n: { type: "integer" } } }, () => mark());
    await expect(runDag(strict, { parameters: { n: "3" } })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(runDag(strict)).rejects.toThrow('missing required parameter "n"');
    expect(ran).toBe(false);
  });
});
