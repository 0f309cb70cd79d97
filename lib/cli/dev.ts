/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
import { isAbsolute, join, relative } from "node:path";
import { DEFAULT_CONCURRENCY, DEFAULT_ORG, DEFAULT_WARM, MAX_WARM } from "../local/state";
import { parseCommandArgs, positiveInteger } from "./args";
import { EXIT, UsageError, formatDuration, formatTable, type CliCommand, type CliIO } from "./io";
import { parsePort } from "./target";
import { findFlowFiles, flowsSetting } from "./flow-files";

const usage = `Usage: dagy dev [options]        (also: npm start)

Runs the whole Dagy platform on this machine, no AWS account needed: DynamoDB (dynalite) and
S3 (s3rver) persisted under the data directory, the HTTP API (the same handler as the API
Lambda), runs executed by worker processes (the same worker as the Fargate container), and
schedules fired locally. Your project's flows are built and registered for ${DEFAULT_ORG}:
--flows <glob>, else "dagy": {"flows": "<glob>"} in ./package.json, else flows/*.ts when a
flows/ folder exists; with none of these, Dagy's example flows (examples/flows/*.ts). Stop it
with Ctrl-C; a restart keeps registered flows and past runs.

Options:
      --port <port>          API port (default: $DAGY_PORT, else 8787; 0 picks a free one).
      --host <host>          Interface to listen on (default 127.0.0.1; the API has no auth).
      --data-dir <dir>       Data directory (default: $DAGY_DATA_DIR, else .dagy).
      --concurrency <n>      Workers running at once; more runs wait QUEUED (default ${DEFAULT_CONCURRENCY}).
      --warm <n>             Idle workers kept ready per worker size, so a run starts without
                             starting a process (default ${DEFAULT_WARM}; 0 disables).
      --org <org_id>         Org the flows are registered for (default ${DEFAULT_ORG}).
      --flows <glob>         Flow files to register, relative to this directory (e.g.
                             "flows/**/*.ts"; quote it so the shell leaves it alone).
      --no-examples          Do not build and register Dagy's example flows.
      --quiet                Do not log each HTTP request.
      --reset                Start afresh: delete the stored flows, runs, logs and schedules of
                             the data directory first (secrets.json is kept). Without it, a data
                             directory whose stores are missing or damaged is refused.
  -h, --help                 Show this help.

Secrets: runs launched with secrets_env ({"DB_PASSWORD": "arn:aws:secretsmanager:..."}) get
the values from <data-dir>/secrets.json, a JSON object {"<secret arn>": "<value>"} (created
empty, mode 0600); values are never logged.
`;

/** `--warm`: a whole number from 0 (no pool) to MAX_WARM. */
function warmCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > MAX_WARM) {
    throw new UsageError(
      `--warm must be a whole number from 0 to ${MAX_WARM}, got "${text}"`,
      "dev",
    );
  }
  return n;
}

/** A path as the user can paste it: relative to their cwd when inside it, else absolute. */
function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

export const command: CliCommand = {
  name: "dev",
  usage,
  async run(args: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs({ name: "dev", usage }, args, io, {
      port: { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      concurrency: { type: "string" },
      warm: { type: "string" },
      org: { type: "string" },
      flows: { type: "string" },
      "no-examples": { type: "boolean" },
      quiet: { type: "boolean" },
      reset: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument: ${positionals.join(" ")}`, "dev");
    }
    const portText = values.port ?? io.env.DAGY_PORT;
    const port =
      portText === undefined
        ? undefined
        : (() => {
            try {
              return parsePort(portText, values.port !== undefined ? "--port" : "DAGY_PORT");
            } catch (error) {
              throw new UsageError((error as Error).message, "dev");
            }
          })();
    const concurrency =
      values.concurrency === undefined
        ? undefined
        : positiveInteger("dev", "--concurrency", values.concurrency);

    const warm = values.warm === undefined ? undefined : warmCount(values.warm);

    const { startLocalPlatform, PACKAGE_ROOT, EXAMPLE_INPUT } =
      require("../local/platform") as typeof import("../local/platform");
    // The project's flows; in this repository (no flows setting) its examples.
    const flows =
      values.flows !== undefined || io.cwd !== PACKAGE_ROOT
        ? flowsSetting(io.cwd, values.flows)
        : undefined;
    const flowFiles = flows === undefined ? undefined : await findFlowFiles(io.cwd, flows.globs);
    if (flows !== undefined && flowFiles?.length === 0) {
      throw new UsageError(
        `no flow files match ${flows.globs.join(", ")} (from ${flows.from}) in ${io.cwd}`,
        "dev",
      );
    }
    const log = (line: string) => io.stdout(`${line}\n`);
    io.stdout("Starting the Dagy local platform…\n");
    const platform = await startLocalPlatform({
      cwd: io.cwd,
      dataDir: values["data-dir"] ?? io.env.DAGY_DATA_DIR ?? ".dagy",
      ...(port !== undefined ? { port } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(warm !== undefined ? { warm } : {}),
      ...(values.org !== undefined ? { orgId: values.org } : {}),
      registerExamples: values["no-examples"] !== true,
      ...(flowFiles !== undefined ? { flowFiles, flowsRoot: io.cwd } : {}),
      reset: values.reset === true,
      accessLog: values.quiet !== true,
      log,
    });

    const cwd = io.cwd;
    const show = (p: string) => displayPath(p, cwd);
    const out: string[] = [];
    out.push(`\nDagy local platform ready in ${formatDuration(platform.timings.readyMs)}`);
    out.push(
      formatTable([
        ["  API", platform.url],
        [
          "  data",
          `${show(platform.dataDir)} (DynamoDB ${platform.endpoints.dynamodbEndpoint}, S3 ${platform.endpoints.s3Endpoint})`,
        ],
        [
          "  workers",
          `up to ${platform.concurrency} at once, ${platform.warm > 0 ? `${platform.warm} kept warm` : "none kept warm"}; output in ${show(platform.logDir)}/<run_id>.log`,
        ],
        [
          "  secrets",
          `${show(platform.secretsFile)} (${platform.secretCount} defined; {"<secret arn>": "<value>"})`,
        ],
        ["  schedules", `${show(join(platform.dataDir, "schedules.json"))}`],
      ]),
    );
    if (platform.recoveredRuns.length > 0) {
      const n = platform.recoveredRuns.length;
      out.push(
        `\n${n} run${n === 1 ? "" : "s"} left active by the previous session ${n === 1 ? "was" : "were"} marked FAILED ("local platform restarted").`,
      );
    }
    if (platform.examples.length > 0) {
      out.push(
        flows === undefined
          ? `\nExample flows for ${platform.orgId}:`
          : `\nFlows for ${platform.orgId} (${flows.globs.join(", ")}, from ${flows.from}):`,
      );
      const rows = platform.examples.map((e) => [
        `  ${e.flowName ?? "?"}`,
        e.version ?? "",
        e.file,
        e.status === "registered"
          ? "registered"
          : e.status === "unchanged"
            ? "already registered"
            : e.status.toUpperCase(),
      ]);
      out.push(formatTable(rows));
      for (const e of platform.examples) {
        if (e.status === "conflict" || e.status === "failed")
          out.push(`  ! ${e.file}: ${e.message ?? ""}`);
      }
    }
    const etl = platform.examples.find(
      (e) => e.flowName === "etl_pipeline" && e.status !== "failed" && flows === undefined,
    );
    if (etl) {
      // The guide's request, verbatim: s3://bucket/input.csv is seeded in the local S3.
      const source = `s3://${EXAMPLE_INPUT.bucket}/${EXAMPLE_INPUT.key}`;
      const body = `{"org_id": ${JSON.stringify(platform.orgId)}, "parameters": {"date": "2024-03-14", "source": "${source}"}}`;
      out.push("\nTry it (the guide's request, on this machine):");
      out.push(`  curl -X POST ${platform.url}/flows/etl_pipeline/runs \\`);
      out.push(`    -H "Content-Type: application/json" \\`);
      out.push(`    -d '${body}'`);
      out.push(`  curl ${platform.url}/runs/<run_id>`);
      out.push(
        `  npx dagy launch etl_pipeline --param date=2024-03-14 --param source=${source} --wait`,
      );
      out.push("  npx dagy runs");
    }
    out.push("\nCtrl-C stops the platform (active runs are stopped and marked FAILED).\n");
    io.stdout(`${out.join("\n")}\n`);

    // Wait for Ctrl-C (or SIGTERM from a process manager), then stop everything cleanly:
    // workers first (none is orphaned), then the stores, which flush to disk.
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        stopListening?.();
        process.removeListener("SIGTERM", onTerm);
        io.stdout(`\n${signal}: stopping (waiting for workers to exit)…\n`);
        resolve();
      };
      const onTerm = () => stop("SIGTERM");
      const stopListening = io.onInterrupt?.(() => stop("SIGINT"));
      // CliIO carries SIGINT only; a platform must also stop cleanly on SIGTERM.
      process.once("SIGTERM", onTerm);
    });
    const stopping = Date.now();
    await platform.close();
    io.stdout(
      `Stopped in ${formatDuration(Date.now() - stopping)}. Data kept in ${show(platform.dataDir)}.\n`,
    );
    return EXIT.ok;
  },
};
