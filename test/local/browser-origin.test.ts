/**
 * A web page on another origin, in a real Chromium, tries to drive the local platform while it
 * runs: a "simple" cross-origin POST (text/plain, no preflight) and a JSON POST (preflighted).
 * Neither launches anything, and the page cannot read the runs list. The platform's own console
 * page, same-origin, can.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";
import { findChromium, launchChromium, type Browser } from "../console/chromium";

const REPO = resolve(__dirname, "..", "..");
const chromiumPath = findChromium();

if (chromiumPath === undefined) {
  console.warn(
    "SKIPPED the cross-origin browser test: no Chromium found (apt-get install -y chromium).",
  );
} else {
  describe(`the local API against a foreign page in Chromium (${chromiumPath})`, () => {
    let platform: LocalPlatform;
    let dataDir: string;
    let evil: Server;
    let evilUrl: string;
    let browser: Browser;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), "dagy-origin-"));
      platform = await startLocalPlatform({
        dataDir,
        cwd: REPO,
        port: 0,
        workerCommand: await defaultWorkerCommand(),
        startScheduler: false,
      });
      // "evil.example": any page on another origin (here another port on the loopback).
      evil = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<!doctype html><title>evil</title>");
      });
      await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
      evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
      browser = await launchChromium(chromiumPath);
    });

    afterAll(async () => {
      await browser?.close();
      await new Promise<void>((r) => evil?.close(() => r()));
      await platform?.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    async function runCount(): Promise<number> {
      const response = await fetch(`${platform.url}/runs?org_id=acme-corp`);
      return ((await response.json()) as { runs: unknown[] }).runs.length;
    }

    it("launches nothing for a simple (text/plain) or a JSON cross-origin POST, and reveals nothing", async () => {
      const before = await runCount();
      const page = await browser.context.newPage();
      await page.goto(evilUrl);
      const outcome = await page.evaluate(async (api: string) => {
        const body = JSON.stringify({
          org_id: "acme-corp",
          parameters: { date: "2024-03-14", source: "s3://bucket/input.csv" },
        });
        const results: string[] = [];
        for (const init of [
          { method: "POST", headers: { "content-type": "text/plain" }, body, mode: "no-cors" },
          { method: "POST", headers: { "content-type": "application/json" }, body },
        ] as RequestInit[]) {
          try {
            const r = await fetch(`${api}/flows/etl_pipeline/runs`, init);
            results.push(`status ${r.status}`);
          } catch (error) {
            results.push(`blocked: ${(error as Error).name}`);
          }
        }
        try {
          const r = await fetch(`${api}/runs?org_id=acme-corp`);
          results.push(`read ${r.status} ${(await r.text()).slice(0, 40)}`);
        } catch (error) {
          results.push(`read blocked: ${(error as Error).name}`);
        }
        return results;
      }, platform.url);
      await page.close();
      // The opaque no-cors answer reports status 0; the preflighted and the read requests fail.
      expect(outcome[0]).toBe("status 0");
      expect(outcome[1]).toMatch(/^blocked/);
      expect(outcome[2]).toMatch(/^read blocked/);
      expect(await runCount()).toBe(before);
    });

    it("still serves the platform's own console page, same-origin", async () => {
      const page = await browser.context.newPage();
      const response = await page.goto(`${platform.url}/console/`);
      expect(response?.status()).toBe(200);
      const status = await page.evaluate(async () => {
        const r = await fetch("/runs?org_id=acme-corp");
        return r.status;
      });
      expect(status).toBe(200);
      await page.close();
    });
  });
}
