/**
 * The run console: gzipped bundle size (target <= 150 KB) and time to first render of a
 * 200-task run (the run page from navigation start until all 200 DAG nodes are drawn with their
 * states), median of 5 loads in headless Debian chromium.
 *
 * The API is a stub serving one synthetic run, so the figure measures the console (bundle
 * parse, dagre layout, SVG) rather than the platform. Without a Chromium the size is still
 * reported and the render time is skipped, saying so.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { buildConsoleBundle } from "../lib/console/build";
import { createConsoleHandler } from "../lib/console/server";
import { CHROMIUM_ARGS, findChromium } from "../test/console/chromium";

const TARGET_GZIP_KB = 150;
const TASKS = 200;
const LOADS = 5;
const RUN_ID = "00000000-0000-4000-8000-000000000200";

/** Ten layers of twenty tasks; each depends on two tasks of the layer before. */
function syntheticRun() {
  const tasks = Array.from({ length: TASKS }, (_, i) => {
    const layer = Math.floor(i / 20);
    const upstream =
      layer === 0
        ? []
        : [`task_${(layer - 1) * 20 + (i % 20)}`, `task_${(layer - 1) * 20 + ((i + 7) % 20)}`];
    return { id: `task_${i}`, task: "work", upstream, options: { retries: 0 } };
  });
  const started = Date.parse("2026-01-01T00:00:00Z");
  const task_states = Object.fromEntries(
    tasks.map((t, i) => {
      const done = i < 150;
      return [
        t.id,
        {
          status: done ? "SUCCEEDED" : i < 170 ? "RUNNING" : "PENDING",
          attempts: done || i < 170 ? 1 : 0,
          ...(i < 170 ? { started_at: new Date(started + i * 100).toISOString() } : {}),
          ...(done
            ? { completed_at: new Date(started + i * 100 + 900).toISOString(), duration_ms: 900 }
            : {}),
        },
      ];
    }),
  );
  const run = {
    run_id: RUN_ID,
    flow_name: "bench_wide",
    flow_version: "1.0.0",
    status: "RUNNING",
    started_at: new Date(started).toISOString(),
    completed_at: null,
    error_message: null,
    org_id: "bench",
    environment: "local",
    correlation_id: RUN_ID,
    trigger_source: "api",
    created_at: new Date(started).toISOString(),
    updated_at: new Date(started).toISOString(),
    task_arn: null,
    deployment_name: null,
    triggered_by: null,
    task_states,
    cancel_requested: false,
    exit_code: null,
    stop_reason: null,
    traceback_uri: null,
  };
  const spec = {
    flow_name: "bench_wide",
    version: "1.0.0",
    flow_spec: { name: "bench_wide", version: "1.0.0", parameters: {}, tasks },
  };
  const events = tasks.slice(0, 170).flatMap((t, i) => [
    {
      timestamp: new Date(started + i * 100).toISOString(),
      level: "info",
      event_type: "task_started",
      task_id: t.id,
      attempt: 1,
      message: "task started",
    },
    ...(i < 150
      ? [
          {
            timestamp: new Date(started + i * 100 + 900).toISOString(),
            level: "info",
            event_type: "task_succeeded",
            task_id: t.id,
            attempt: 1,
            message: "task succeeded",
          },
        ]
      : []),
  ]);
  return { run, spec, logs: { run_id: RUN_ID, events, next_position: "end", complete: false } };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json" }).end(text);
}

export async function main(): Promise<void> {
  const bundle = await buildConsoleBundle();
  let total = 0;
  for (const [name, asset] of bundle.assets) {
    total += asset.gzip.length;
    console.log(
      `  ${name.padEnd(8)} ${(asset.body.length / 1024).toFixed(1).padStart(6)} KB minified, ${(asset.gzip.length / 1024).toFixed(1).padStart(5)} KB gzipped`,
    );
  }
  const totalKb = total / 1024;
  console.log(
    `bundle: ${totalKb.toFixed(1)} KB gzipped (target <= ${TARGET_GZIP_KB} KB) ${totalKb <= TARGET_GZIP_KB ? "OK" : "OVER"}`,
  );

  const executablePath = findChromium();
  if (executablePath === undefined) {
    console.log("first render of a 200-task run: SKIPPED (no Chromium; apt-get install chromium)");
    return;
  }

  const data = syntheticRun();
  const handleConsole = createConsoleHandler({ defaultOrg: "bench", bundle: async () => bundle });
  const server = createServer((req, res) => {
    if (handleConsole(req, res)) return;
    const path = (req.url ?? "/").split("?")[0];
    if (path === `/runs/${RUN_ID}`) return json(res, 200, data.run);
    if (path === `/runs/${RUN_ID}/logs`) return json(res, 200, data.logs);
    if (path === "/flows/bench_wide/versions/1.0.0") return json(res, 200, data.spec);
    json(res, 404, { error: "not in the benchmark" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const profile = await mkdtemp(join(tmpdir(), "dagy-bench-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  try {
    const times: number[] = [];
    for (let i = 0; i <= LOADS; i++) {
      const page = await context.newPage();
      // Marks the moment the last node appears (init scripts run outside the page's CSP).
      await page.addInitScript({
        content: `new MutationObserver(() => {
          if (window.__rendered === undefined &&
              document.querySelectorAll(".dag-node[data-status]").length === ${TASKS}) {
            window.__rendered = performance.now();
          }
        }).observe(document, { subtree: true, childList: true });`,
      });
      await page.goto(`${base}/console/runs/${RUN_ID}`);
      const deadline = Date.now() + 30_000;
      let ms: number | undefined;
      while (ms === undefined && Date.now() < deadline) {
        ms = await page.evaluate<number | undefined>("window.__rendered");
        if (ms === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      if (ms === undefined) throw new Error(`the ${TASKS} nodes were not drawn within 30 s`);
      await page.close();
      if (i > 0) times.push(ms); // the first load warms the HTTP cache, as a returning user's
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] as number;
    console.log(
      `first render of a ${TASKS}-task run (navigation start -> every node drawn with its state), ` +
        `median of ${LOADS}: ${median.toFixed(0)} ms (min ${(times[0] as number).toFixed(0)}, max ${(times[times.length - 1] as number).toFixed(0)})`,
    );
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
    await new Promise<void>((r) => server.close(() => r()));
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
