/** Waiting on the page under test without fixed sleeps: poll until true, or fail saying what. */
import type { Page } from "playwright-core";

/** Polls an expression in the page until it is truthy (string predicates would need eval, which the console's CSP forbids). */
export async function waitUntil(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await page.evaluate(expression)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never true in the page: ${expression}`);
}

export async function expectText(
  locator: { textContent(): Promise<string | null>; waitFor(o?: object): Promise<void> },
  text: string,
): Promise<void> {
  await locator.waitFor({ timeout: 15_000 });
  const deadline = Date.now() + 15_000;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.textContent()) ?? "";
    if (last.includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(last).toContain(text);
}
