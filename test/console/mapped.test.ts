/**
 * Mapped tasks in the run console, in a real browser (Debian's chromium) against the local
 * platform with real workers: an in-worker map is one DAG node with its item counts, updated
 * while the run goes, and expands into pages of item states; an isolated map expands into its
 * child runs, each a link to its own run page.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";
import { expectText, waitUntil } from "./browser-helpers";
import { findChromium, launchChromium, noChromium, type Browser } from "./chromium";
import {
  HORIZONTAL_OVERFLOW,
  RECORD_MAP_COUNTS,
  SEEN_MAP_COUNTS,
  taskQueryIs,
  UNLABELLED_CONTROLS,
} from "./page-scripts";

const REPO = resolve(__dirname, "..", "..");
// As console.test.ts: the README's screenshots are refreshed only with DAGY_SCREENSHOTS=1.
const SCREENSHOTS = process.env.DAGY_SCREENSHOTS
  ? join(REPO, "docs", "screenshots")
  : join(tmpdir(), "dagy-console-screenshots");
const ORG = "console-org";

const chromiumPath = findChromium();
if (chromiumPath === undefined) {
  noChromium("the console's mapped-task browser tests");
} else {
  describe(`mapped tasks in the console, in Chromium (${chromiumPath})`, () =>
    mappedSuite(chromiumPath));
}

function mappedSuite(executablePath: string): void {
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

  async function launch(flow: string, parameters: Record<string, unknown>): Promise<string> {
    const result = await api("POST", `/flows/${flow}/runs`, { org_id: ORG, parameters });
    expect(result.success).toBe(true);
    return result.run_id as string;
  }

  const badge = (p: Page) => p.locator(".run-status .badge");
  const rows = (p: Page, table: string) => p.locator(`table.${table} tbody tr`);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dagy-console-map-"));
    platform = await startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand: await defaultWorkerCommand(),
      startScheduler: false,
      examplesDir: join(__dirname, "flows"),
      orgId: ORG,
      concurrency: 6,
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

  it("draws an in-worker map as one node whose counts update, and pages through its items", async () => {
    // 250 items, 100 ms each, five at a time: the map runs for seconds, long enough for the
    // page (polling once a second) to show counts between none and all.
    const runId = await launch("console_map", { count: 250, hold_ms: 100, fail_every: 50 });
    await page.addInitScript({ content: RECORD_MAP_COUNTS });
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 90_000 });

    // One node for 250 items: the DAG has the three tasks of the flow, not 252.
    expect(await page.locator(".dag-node").count()).toBe(3);
    const node = page.locator('.dag-node[data-task-id="square"]');
    await expectText(node, "square[ ]");
    await expectText(node, "245/250 ✓ 5 ✗");
    expect(await node.getAttribute("aria-label")).toContain(
      "245 of 250 items succeeded, 5 failed, 0 running",
    );
    // The counts moved while the run was active: some line between none and all was shown.
    const seen: Record<string, string[]> = await page.evaluate(SEEN_MAP_COUNTS);
    const succeeded = (seen.square ?? []).map((t) => Number(/^(\d+)\/250/.exec(t)?.[1] ?? -1));
    expect({ seen: seen.square, between: succeeded.some((n) => n > 0 && n < 245) }).toEqual({
      seen: seen.square,
      between: true,
    });
    // The timeline keeps one row per task, items folded into their map.
    await expectText(
      page.locator('section[aria-labelledby="log-title"] [role="status"]'),
      "complete",
    );
    expect(await page.locator(".timeline-row").count()).toBe(3);

    // Collapsed by default; the toggle is a button that says whether it is expanded.
    const toggle = page.getByRole("button", { name: "square[ ] Show items" });
    expect(await toggle.getAttribute("aria-expanded")).toBe("false");
    expect(await page.locator("table.map-items").count()).toBe(0);
    // Keyboard: focus it and press Enter.
    await toggle.focus();
    await page.keyboard.press("Enter");
    const hide = page.getByRole("button", { name: "square[ ] Hide items" });
    expect(await hide.getAttribute("aria-expanded")).toBe("true");
    const pager = page.getByRole("navigation", { name: "Pages of square's items" });
    await expectText(pager, "Items 1–100 of 250 · page 1 of 3");
    // One page in the DOM, not 250 rows.
    expect(await rows(page, "map-items").count()).toBe(100);
    const item = (i: number) => page.locator(`table.map-items tr[data-item="${i}"]`);
    await expectText(item(0), "SUCCEEDED");
    await expectText(item(49), "FAILED");
    await expectText(item(49), "item 49 is odd one out");
    // The README's picture: the expanded node, scrolled to show a failed item.
    await item(52).scrollIntoViewIfNeeded();
    await page
      .locator('section[aria-labelledby="dag-title"]')
      .screenshot({ path: join(SCREENSHOTS, "run-map.png") });

    // Page 2: items 101-200, item 149 among them, failed.
    await pager.getByRole("button", { name: "Next →" }).click();
    await expectText(pager, "Items 101–200 of 250 · page 2 of 3");
    expect(await rows(page, "map-items").count()).toBe(100);
    expect(await rows(page, "map-items").first().getAttribute("data-item")).toBe("100");
    await expectText(item(149), "FAILED");
    await expectText(item(150), "SUCCEEDED");
    expect(await item(0).count()).toBe(0);
    await pager.getByRole("button", { name: "Next →" }).click();
    await expectText(pager, "Items 201–250 of 250 · page 3 of 3");
    expect(await pager.getByRole("button", { name: "Next →" }).isDisabled()).toBe(true);

    // Only the failed ones: five, across every page.
    await page.getByRole("combobox", { name: "Which items of square" }).selectOption("FAILED");
    await expectText(pager, "Items 1–5 of 5");
    const failed: Array<string | null> = [];
    for (let i = 0; i < (await rows(page, "map-items").count()); i++) {
      failed.push(await rows(page, "map-items").nth(i).getAttribute("data-item"));
    }
    expect(failed).toEqual(["49", "99", "149", "199", "249"]);

    // Collapse; then selecting the node in the DAG opens the items again and filters the log
    // to the map and its items.
    await hide.click();
    expect(await page.locator("table.map-items").count()).toBe(0);
    await node.click();
    await waitUntil(page, taskQueryIs("square"));
    await rows(page, "map-items").first().waitFor();
    await expectText(page.locator(".log"), "[square[49]]");
    const logTasks = await page.locator(".log .log-task").allTextContents();
    expect(logTasks.filter((t) => t !== "[square]" && !/^\[square\[\d+\]\]$/.test(t))).toEqual([]);

    // At a phone's width, expanded: every control labelled, nothing wider than the screen.
    const phone = await browser.context.newPage();
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${platform.url}/console/runs/${runId}`);
      await phone.getByRole("button", { name: "square[ ] Show items" }).click();
      await rows(phone, "map-items").first().waitFor();
      expect(await phone.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
      expect(await phone.evaluate(HORIZONTAL_OVERFLOW)).toBe(0);
    } finally {
      await phone.close();
    }
  });

  it("keeps a 10,000-item map to one node and one page of items in the page", async () => {
    const runId = await launch("console_map", { count: 10_000, hold_ms: 0, fail_every: 0 });
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 120_000 });
    await expectText(page.locator('.dag-node[data-task-id="square"]'), "10000/10000 ✓");
    const logStatus = page.locator('section[aria-labelledby="log-title"] [role="status"]');
    await expectText(logStatus, "complete");
    // More events than the page keeps: the oldest were let go, and only the newest are drawn.
    await expectText(logStatus, "oldest not shown");
    expect(await page.locator(".log .log-line").count()).toBe(1000);

    await page.getByRole("button", { name: "square[ ] Show items" }).click();
    const pager = page.getByRole("navigation", { name: "Pages of square's items" });
    await expectText(pager, "Items 1–100 of 10000 · page 1 of 100");
    expect(await rows(page, "map-items").count()).toBe(100);
    // Item 0's events were among those let go, yet its state, tries and duration are known.
    const first = page.locator('table.map-items tr[data-item="0"]');
    await expectText(first, "SUCCEEDED");
    expect((await first.locator("td").nth(2).textContent()) ?? "").toMatch(/\d+ ms/);
    // The whole page, log included, stays far below one element per item.
    const elements: number = await page.evaluate("document.querySelectorAll('*').length");
    expect(elements).toBeLessThan(10_000);
  });

  it("lists an isolated map's child runs, each linking to its own run page", async () => {
    const runId = await launch("console_isolated", { count: 6 });
    await page.goto(`${platform.url}/console/runs/${runId}`);
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 90_000 });
    const node = page.locator('.dag-node[data-task-id="cube"]');
    await expectText(node, "cube[ ]");
    await expectText(node, "6/6 ✓");

    const toggle = page.getByRole("button", { name: "cube[ ] Show child runs" });
    expect(await toggle.getAttribute("aria-expanded")).toBe("false");
    await toggle.click();
    expect(
      await page
        .getByRole("button", { name: "cube[ ] Hide child runs" })
        .getAttribute("aria-expanded"),
    ).toBe("true");
    // Two items per child: three children, in item order, as the API lists them.
    const listed = (await api("GET", `/runs?org_id=${ORG}&parent_run_id=${runId}`)).runs as Array<{
      run_id: string;
      map_items: string;
    }>;
    expect(listed.map((r) => r.map_items).sort()).toEqual(["0-1", "2-3", "4-5"]);
    await rows(page, "map-children").nth(2).waitFor();
    expect(await rows(page, "map-children").count()).toBe(3);
    const texts = await rows(page, "map-children").allTextContents();
    expect(texts.map((t) => /cube\[\d–\d\]/.exec(t)?.[0])).toEqual([
      "cube[0–1]",
      "cube[2–3]",
      "cube[4–5]",
    ]);
    for (const text of texts) expect(text).toContain("SUCCEEDED");
    const pager = page.getByRole("navigation", { name: "Pages of cube's child runs" });
    await expectText(pager, "3 child runs on this page · page 1 of 1");

    // The last child's link opens its own run page.
    const last = listed.find((r) => r.map_items === "4-5");
    await rows(page, "map-children").nth(2).getByRole("link").click();
    await page.waitForURL(`**/console/runs/${last?.run_id}`);
    await expectText(page.locator(".run-id"), last?.run_id ?? "?");
    await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 15_000 });
    await expectText(page.locator(".log"), "cubing 5");
    // A child runs only the mapped task, for its items, in its own worker: one node, whose
    // items ran here (no child runs of its own), and a way back to the parent.
    expect(await page.locator(".dag-node").count()).toBe(1);
    await expectText(page.locator('.dag-node[data-task-id="cube"]'), "2/2 ✓");
    await page.getByRole("button", { name: "cube[ ] Show items" }).click();
    // Numbered as in the parent's list: this child's items are 4 and 5.
    expect(await rows(page, "map-items").count()).toBe(2);
    await expectText(page.locator('table.map-items tr[data-item="4"]'), "cube[4]");
    await expectText(page.locator('table.map-items tr[data-item="5"]'), "SUCCEEDED");
    await expectText(page.locator(".facts"), "cube[4–5]");
    await page.locator(".crumbs").getByRole("link", { name: "Parent run" }).click();
    await page.waitForURL(`**/console/runs/${runId}`);
    await expectText(page.locator('.dag-node[data-task-id="cube"]'), "6/6 ✓");
    // The flow's own page marks the mapped task in its DAG too.
    await page.goto(`${platform.url}/console/flows/console_isolated`);
    const defined = page.locator('.dag-node[data-task-id="cube"]');
    await expectText(defined, "cube[ ]");
    await expectText(defined, "cube.map() · isolated");
  });

  it("pages an isolated map's child runs with the API's next_token", async () => {
    // 100 children a page needs 101 child runs to turn a page (minutes of worker processes on
    // a small machine); the page's list calls go to the real API with limit=2 instead, so the
    // three children of this run take two pages of real next_tokens.
    const runId = await launch("console_isolated", { count: 6 });
    const seen: string[] = [];
    await page.route(/\/runs\?.*parent_run_id=/, async (route) => {
      const url = new URL(route.request().url());
      expect(url.searchParams.get("limit")).toBe("100");
      url.searchParams.set("limit", "2");
      seen.push(url.searchParams.get("next_token") ?? "");
      await route.continue({ url: url.toString() });
    });
    try {
      await page.goto(`${platform.url}/console/runs/${runId}`);
      await badge(page).filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 90_000 });
      await page.getByRole("button", { name: "cube[ ] Show child runs" }).click();
      const pager = page.getByRole("navigation", { name: "Pages of cube's child runs" });
      await expectText(pager, "2 child runs on this page · page 1");
      const ranges = async () =>
        (await rows(page, "map-children").allTextContents()).map(
          (t) => /cube\[\d–\d\]/.exec(t)?.[0],
        );
      const firstPage = await ranges();
      await pager.getByRole("button", { name: "Next →" }).click();
      await expectText(pager, "1 child run on this page · page 2 of 2");
      expect(seen.filter((token) => token !== "").length).toBeGreaterThan(0);
      const secondPage = await ranges();
      expect([...firstPage, ...secondPage].sort()).toEqual(["cube[0–1]", "cube[2–3]", "cube[4–5]"]);
      expect(await pager.getByRole("button", { name: "Next →" }).isDisabled()).toBe(true);
      await pager.getByRole("button", { name: "← Previous" }).click();
      await expectText(pager, "2 child runs on this page · page 1");
      expect(await ranges()).toEqual(firstPage);
    } finally {
      await page.unroute(/\/runs\?.*parent_run_id=/);
    }
  });
}
