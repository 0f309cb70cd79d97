/**
 * The run console: its static server (always), and in a real browser (Debian's chromium, when
 * installed) against the local platform with real workers: the runs list, a run's DAG moving
 * through its states, a failed run's traceback, cancel, and the launch form.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import type { ApiRequest } from "../../lib/cli/api-client";
import {
  command as consoleCommand,
  startConsoleProxy,
  type ConsoleProxy,
} from "../../lib/cli/console";
import type { CliIO } from "../../lib/cli/io";
import { consoleBundle } from "../../lib/console/build";
import { createConsoleHandler } from "../../lib/console/server";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";
import { expectText, waitUntil } from "./browser-helpers";
import { findChromium, launchChromium, noChromium, type Browser } from "./chromium";
import {
  HORIZONTAL_OVERFLOW,
  RECORD_TASK_STATES,
  SEEN_TASK_STATES,
  taskQueryIs,
  UNLABELLED_CONTROLS,
} from "./page-scripts";

const REPO = resolve(__dirname, "..", "..");
// The README's screenshots are refreshed with DAGY_SCREENSHOTS=1 npx jest test/console; a plain
// `npm test` writes them to a temporary folder, so a test run leaves the work tree clean.
const SCREENSHOTS = process.env.DAGY_SCREENSHOTS
  ? join(REPO, "docs", "screenshots")
  : join(tmpdir(), "dagy-console-screenshots");
const ORG = "console-org";

describe("console server", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const handle = createConsoleHandler({ defaultOrg: 'acme"<corp>' });
    server = createServer((req, res) => {
      if (!handle(req, res)) {
        res.writeHead(418).end("api");
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("answers every console page with the same index.html, naming the default org safely", async () => {
    for (const path of ["/console/", "/console/runs/abc-123", "/console/flows/etl?version=1"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
      const html = await response.text();
      expect(html).toContain('<div id="app"></div>');
      expect(html).toContain('content="acme&#34;&#60;corp&#62;"');
    }
  });

  it("redirects /console to /console/ and leaves other paths to the API", async () => {
    const redirect = await fetch(`${base}/console`, { redirect: "manual" });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/console/");
    expect((await fetch(`${base}/runs`)).status).toBe(418);
    expect((await fetch(`${base}/consoles`)).status).toBe(418);
  });

  it("refuses to change anything under /console/", async () => {
    const response = await fetch(`${base}/console/`, { method: "POST", body: "{}" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves the bundle from the package, gzipped within 150 KB", async () => {
    const bundle = await consoleBundle();
    const response = await fetch(`${base}/console/assets/app.js?v=${bundle.version}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/javascript");
    expect(response.headers.get("cache-control")).toContain("immutable");
    const js = await response.text();
    expect(js).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs|fonts\.)/);
    const gzipped = [...bundle.assets.values()].reduce((n, a) => n + a.gzip.length, 0);
    expect(gzipped).toBeLessThanOrEqual(150 * 1024);
    expect((await fetch(`${base}/console/assets/nope.js`)).status).toBe(404);
  });
});

describe("dagy console (the console for any target, forwarding its API calls)", () => {
  const received: ApiRequest[] = [];
  let proxy: ConsoleProxy;
  beforeAll(async () => {
    proxy = await startConsoleProxy({
      port: 0,
      defaultOrg: "acme-corp",
      transport: async (request) => {
        received.push(request);
        return { status: 201, body: { forwarded: true } };
      },
    });
  });
  afterAll(() => proxy.close());
  beforeEach(() => received.splice(0));

  it("serves the console and forwards its API calls through the target's transport", async () => {
    const page = await fetch(`${proxy.url}/console/runs/r-1`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('content="acme-corp"');

    const list = await fetch(`${proxy.url}/runs?org_id=acme-corp&status=RUNNING`);
    expect(list.status).toBe(201);
    expect(await list.json()).toEqual({ forwarded: true });
    const cancel = await fetch(`${proxy.url}/runs/r%201/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: proxy.url },
      body: JSON.stringify({ reason: "from the console" }),
    });
    expect(cancel.status).toBe(201);
    expect(received).toEqual([
      { method: "GET", path: "/runs", query: { org_id: "acme-corp", status: "RUNNING" } },
      {
        method: "POST",
        path: "/runs/r%201/cancel",
        query: {},
        body: { reason: "from the console" },
      },
    ]);
  });

  it("refuses state changes that are not JSON or come from another origin, forwarding nothing", async () => {
    const form = await fetch(`${proxy.url}/flows/etl/runs`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    expect(form.status).toBe(403);
    const foreign = await fetch(`${proxy.url}/flows/etl/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: "{}",
    });
    expect(foreign.status).toBe(403);
    expect(received).toEqual([]);
  });

  it("refuses requests addressed to another host name (DNS rebinding)", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${proxy.url}/runs?org_id=acme-corp`,
        { headers: { host: "rebind.example:80" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
    expect(received).toEqual([]);
  });
});

const chromiumPath = findChromium();
if (chromiumPath === undefined) {
  noChromium("the console browser suite");
} else {
  describe(`console in Chromium (${chromiumPath})`, () => browserSuite(chromiumPath));
}

function browserSuite(executablePath: string): void {
  let dataDir: string;
  let platform: LocalPlatform;
  let browser: Browser;
  let page: Page;

  async function api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      ...(body !== undefined
        ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
        : {}),
    });
    return (await response.json()) as Record<string, unknown>;
  }

  async function launch(flow: string, parameters: Record<string, unknown> = {}): Promise<string> {
    const result = await api("POST", `/flows/${flow}/runs`, { org_id: ORG, parameters });
    expect(result.success).toBe(true);
    return result.run_id as string;
  }

  async function runStatus(runId: string): Promise<string> {
    return (await api("GET", `/runs/${runId}`)).status as string;
  }

  const badge = (p: Page) => p.locator(".run-status .badge");

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dagy-console-"));
    platform = await startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand: await defaultWorkerCommand(),
      startScheduler: false,
      examplesDir: join(__dirname, "flows"),
      orgId: ORG,
      stopGraceMs: 2000,
      log: () => {},
    });
    browser = await launchChromium(executablePath);
    page = await browser.context.newPage();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("lists a run launched over HTTP and updates its status live", async () => {
    await page.goto(`${platform.url}/console/`);
    const runId = await launch("console_steps", { step_seconds: 1 });
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await row.waitFor({ timeout: 15_000 });
    await expectText(row, "console_steps");
    await expectText(row, "1.0.0");
    await expectText(row, "api");
    // No reload: the list polls, so the row reaches SUCCEEDED by itself.
    await row.locator('.badge[data-status="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    // Filter by status: the succeeded run stays, a FAILED filter hides it.
    await page.getByLabel("Status").selectOption("FAILED");
    await row.waitFor({ state: "detached", timeout: 10_000 });
    await page.getByLabel("Status").selectOption("");
    await row.waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SCREENSHOTS, "runs.png") });
  });

  it("draws the run's DAG and shows each task move from RUNNING to SUCCEEDED", async () => {
    // Three seconds a step: task states are written once a second and the page polls once a
    // second, so each RUNNING state is on screen for at least a second even on a busy machine.
    const runId = await launch("console_steps", { step_seconds: 3 });
    // Record every state each DAG node shows, from the first paint on.
    await page.addInitScript({ content: RECORD_TASK_STATES });
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await expectText(page.locator("h1"), "console_steps");
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 40_000 });
    const seen: Record<string, string[]> = await page.evaluate(SEEN_TASK_STATES);
    for (const task of ["prepare", "left", "right", "finish"]) {
      const states = seen[task] ?? [];
      const running = states.indexOf("RUNNING");
      expect({ task, states, ok: running >= 0 && states.indexOf("SUCCEEDED") > running }).toEqual({
        task,
        states,
        ok: true,
      });
      // State in text as well as colour.
      await expectText(page.locator(`.dag-node[data-task-id="${task}"]`), "SUCCEEDED");
    }
    // Drawn from the flow's definition: the diamond's four edges.
    expect(await page.locator(".dag-edge").count()).toBe(4);
    // Keyboard: Tab to a task and press Enter to filter the log by it.
    await page.locator('.dag-node[data-task-id="left"]').focus();
    await page.keyboard.press("Enter");
    await waitUntil(page, taskQueryIs("left"));
    expect(await page.locator('.dag-node[data-task-id="left"]').getAttribute("aria-pressed")).toBe(
      "true",
    );
    // The log now shows only that task's lines, its own message among them.
    await expectText(page.locator(".log"), "step left working");
    const tasks = await page.locator(".log .log-task").allTextContents();
    expect(tasks.length).toBeGreaterThan(0);
    expect(tasks.filter((t) => t !== "[left]")).toEqual([]);
    await page.keyboard.press("Enter");
    await waitUntil(page, `!new URL(location.href).searchParams.has("task")`);
    await page.evaluate("document.activeElement.blur()");
    await page.screenshot({ path: join(SCREENSHOTS, "run.png"), fullPage: true });
  });

  it("shows why a failed run failed, with its retry on the timeline", async () => {
    const runId = await launch("console_fails");
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await badge(page).filter({ hasText: "FAILED" }).waitFor({ timeout: 40_000 });
    const failure = page.locator("section.failure");
    await expectText(failure, "the ledger does not balance");
    await expectText(page.locator('.dag-node[data-task-id="balance"]'), "FAILED");
    // The traceback inline, with the stack pointing into the flow's code.
    await expectText(failure.locator("pre.traceback"), "the ledger does not balance");
    await expectText(failure.locator("pre.traceback"), "console_fails");
    // Both attempts of the failing task are on the timeline: the retried one and the last.
    await expectText(page.locator(".timeline"), "failed, retried");
    await expectText(page.locator(".timeline"), "try 2");
  });

  it("cancels a running run", async () => {
    const runId = await launch("console_steps", { step_seconds: 60 });
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await badge(page).filter({ hasText: "RUNNING" }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Cancel run…" }).click();
    await page.getByRole("button", { name: "Yes, cancel run" }).click();
    await badge(page).filter({ hasText: "CANCELLED" }).waitFor({ timeout: 30_000 });
    expect(await runStatus(runId)).toBe("CANCELLED");
    expect(await page.getByRole("button", { name: "Cancel run…" }).count()).toBe(0);
  });

  it("launches a flow from its launch form", async () => {
    await page.goto(`${platform.url}/console/flows`);
    await page.getByRole("link", { name: "console_params" }).click();
    await page.getByRole("button", { name: "Launch console_params" }).waitFor();
    // Fields come from the parameter declarations, with their defaults.
    expect(await page.getByLabel("times").inputValue()).toBe("2");
    expect(await page.getByLabel("loud").isChecked()).toBe(false);
    // The required one is marked so, and an empty form does not launch.
    expect(await page.getByLabel("greeting").getAttribute("required")).not.toBeNull();
    await page.getByRole("button", { name: "Launch console_params" }).click();
    expect(new URL(page.url()).pathname).toBe("/console/flows/console_params");
    await page.getByLabel("greeting").fill("hello console");
    await page.getByLabel("times").fill("3");
    await page.getByLabel("loud").check();
    await page.getByRole("button", { name: "Launch console_params" }).click();
    await page.waitForURL(/\/console\/runs\/[0-9a-f-]+$/);
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 40_000 });
    const runId = decodeURIComponent(page.url().split("/").pop() as string);
    expect(await runStatus(runId)).toBe("SUCCEEDED");
    // The typed values reached the task: three loud greetings.
    await expectText(page.locator(".log"), "HELLO CONSOLE HELLO CONSOLE HELLO CONSOLE");
  });

  it("shows a schedule's next firing and switches it off", async () => {
    const created = await api("POST", "/schedules", {
      org_id: ORG,
      name: "console-nightly",
      expression: "cron(30 2 * * ? *)",
      time_zone: "Europe/Berlin",
      flow_name: "console_steps",
      parameters: { step_seconds: 1 },
    });
    expect(created.enabled).toBe(true);
    await page.goto(`${platform.url}/console/schedules`);
    const row = page.locator('tr[data-schedule="console-nightly"]');
    await row.waitFor();
    await expectText(row, "cron(30 2 * * ? *)");
    await expectText(row, "Europe/Berlin");
    const nextFire = (await row.locator("td").nth(3).textContent()) ?? "";
    expect(nextFire).toMatch(/\d{2}:\d{2}:\d{2}/);
    const toggle = row.getByRole("switch", { name: "console-nightly enabled" });
    expect(await toggle.getAttribute("aria-checked")).toBe("true");
    await toggle.click();
    await row.locator('[role="switch"][aria-checked="false"]').waitFor();
    await expectText(row, "disabled");
    const schedules = (await api("GET", `/schedules?org_id=${ORG}`)).schedules as Array<{
      name: string;
      enabled: boolean;
      launch: { parameters?: unknown };
    }>;
    const saved = schedules.find((x) => x.name === "console-nightly");
    // Switched off, and nothing else about it changed.
    expect(saved?.enabled).toBe(false);
    expect(saved?.launch.parameters).toEqual({ step_seconds: 1 });
  });

  it("works through `dagy console --url`, which forwards to the platform", async () => {
    // The command itself, as `npx dagy console --url <platform> --console-port 0` runs it.
    let output = "";
    let interrupt: (() => void) | undefined;
    const io: CliIO = {
      cwd: REPO,
      env: {},
      stdout: (text) => void (output += text),
      stderr: () => undefined,
      onInterrupt: (handler) => {
        interrupt = handler;
        return () => (interrupt = undefined);
      },
    };
    const exit = consoleCommand.run(
      ["--url", platform.url, "--console-port", "0", "--org", ORG],
      io,
    );
    const deadline = Date.now() + 15_000;
    while (!/open http:\/\/127\.0\.0\.1:\d+\/console\//.test(output) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const consoleUrl = /open (http:\/\/127\.0\.0\.1:\d+)\/console\//.exec(output)?.[1];
    expect(consoleUrl).toBeDefined();
    try {
      const runId = await launch("console_steps", { step_seconds: 0 });
      await page.goto(`${consoleUrl}/console/`);
      await page.locator(`tr[data-run-id="${runId}"]`).waitFor({ timeout: 15_000 });
      await page.locator(`tr[data-run-id="${runId}"] a`).click();
      await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 30_000 });
      expect(page.url()).toBe(`${consoleUrl}/console/runs/${runId}`);
    } finally {
      interrupt?.();
    }
    expect(await exit).toBe(0);
  });

  it("labels every form control, skips to content by keyboard and fits a phone's width", async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    for (const path of ["/console/", "/console/flows/console_params", "/console/schedules"]) {
      await phone.goto(`${platform.url}${path}`);
      await phone.locator("main h1").waitFor();
      await phone.waitForLoadState("networkidle").catch(() => undefined);
      const unlabelled: string[] = await phone.evaluate(UNLABELLED_CONTROLS);
      expect({ path, unlabelled }).toEqual({ path, unlabelled: [] });
      const overflow: number = await phone.evaluate(HORIZONTAL_OVERFLOW);
      expect({ path, overflow }).toEqual({ path, overflow: 0 });
    }
    // Keyboard: the first Tab reaches "Skip to content", Enter lands in the page's content.
    await phone.goto(`${platform.url}/console/`);
    await phone.locator("main h1").waitFor();
    await phone.keyboard.press("Tab");
    expect(await phone.evaluate("document.activeElement.textContent")).toBe("Skip to content");
    await phone.keyboard.press("Enter");
    await waitUntil(phone, `document.activeElement.id === "main"`);
    await phone.close();
  });
}
