/**
 * The browser the console suite drives: Debian's chromium (never a downloaded build), headless,
 * with a fresh profile, no network beyond the page under test.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** `DAGY_CHROMIUM`, else /usr/bin/chromium, else `chromium` on the PATH; undefined if none. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.DAGY_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  try {
    const found = execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
    return found === "" ? undefined : found;
  } catch {
    return undefined;
  }
}

/**
 * Without Chromium the browser suites cannot run. Locally that is said in the output; under CI
 * (`CI` set: `.ci/run` installs Debian's chromium) it is a failure, so a browser suite is never
 * silently left out of a CI run.
 */
export function noChromium(suite: string): void {
  console.warn(
    `SKIPPED ${suite}: no Chromium found (set DAGY_CHROMIUM, or install Debian's: ` +
      "apt-get update && apt-get install -y chromium). .ci/run installs it.",
  );
  test(`Chromium is present for ${suite} (required under CI)`, () => {
    if (process.env.CI) throw new Error(`no Chromium found under CI: ${suite} did not run`);
  });
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(
  executablePath: string,
  viewport = { width: 1280, height: 900 },
): Promise<Browser> {
  // A fresh --user-data-dir each time (playwright passes it from launchPersistentContext).
  const profile = await mkdtemp(join(tmpdir(), "dagy-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
