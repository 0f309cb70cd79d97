/**
 * LocalWarmPool on its own, with real processes: a size whose workers keep dying before they
 * are ready is retried with growing delays and then given up (runs of that size start cold),
 * never respawned in a tight loop.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalWarmPool, MAX_START_FAILURES } from "../../lib/launcher/local-warm-pool";

const SIZE = { cpu: "256", memory: "512" };

describe("LocalWarmPool", () => {
  it("gives a size up after MAX_START_FAILURES workers in a row die before they are ready", async () => {
    let spawned = 0;
    const lines: string[] = [];
    const pool = new LocalWarmPool({
      size: 2,
      sizes: [SIZE],
      spawn: () => {
        spawned++;
        return spawn(process.execPath, ["-e", "process.exit(3)"], {
          stdio: ["ignore", "pipe", "pipe", "ipc"],
        });
      },
      log: (line) => lines.push(line),
    });
    const deadline = Date.now() + 30_000;
    while (lines.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines).toEqual([
      expect.stringMatching(
        /^warm pool 256\/512: 5 workers in a row failed to start \(a warm worker exited before it was ready \(code 3, signal null\)\); runs of this size start cold$/,
      ),
    ]);
    // Two at once, then one per retry: no more than the bound (plus the first pair's partner).
    expect(spawned).toBeLessThanOrEqual(MAX_START_FAILURES + 1);
    await new Promise((r) => setTimeout(r, 1000));
    const after = spawned;
    await new Promise((r) => setTimeout(r, 1000));
    expect(spawned).toBe(after);
    expect(pool.take(SIZE)).toBeUndefined();
    expect(pool.hasStarting(SIZE)).toBe(false);
    await pool.close();
  }, 40_000);

  it("sends the size's last artifact to its idle workers, and to each that becomes idle later", async () => {
    // Each worker says ready, then writes every message it gets to a file named by its pid.
    const dir = mkdtempSync(join(tmpdir(), "dagy-pool-hint-"));
    const script = `const fs = require("fs");
      process.send({ type: "dagy:ready" });
      process.on("message", (m) => fs.appendFileSync(${JSON.stringify(dir)} + "/" + process.pid, JSON.stringify(m) + "\\n"));`;
    const pool = new LocalWarmPool({
      size: 2,
      sizes: [SIZE],
      spawn: () =>
        spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe", "ipc"] }),
    });
    const received = (pid: number): Array<{ type: string; artifactSha256?: string }> => {
      try {
        return readFileSync(join(dir, String(pid)), "utf8")
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as { type: string });
      } catch {
        return [];
      }
    };
    const until = async (probe: () => boolean): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!probe()) {
        if (Date.now() > deadline) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      await until(() => pool.idlePids().length === 2);
      const hint = (sha: string) => ({
        type: "dagy:preload" as const,
        artifactUri: "s3://bucket/flows/hello/1/artifact.zip",
        artifactSha256: sha,
        runsTable: "runs",
      });
      pool.hint(SIZE, hint("a".repeat(64)));
      pool.hint(SIZE, hint("a".repeat(64))); // the same again: not sent twice
      const first = pool.idlePids();
      await until(() => first.every((pid) => received(pid).length === 1));
      for (const pid of first) {
        expect(received(pid)).toEqual([hint("a".repeat(64))]);
      }

      // A worker taken for a run gets nothing more; its replacement gets the hint once idle.
      const taken = pool.take(SIZE)!;
      pool.hint(SIZE, hint("b".repeat(64)));
      await until(() => pool.idlePids().length === 2);
      const replacement = pool.idlePids().find((pid) => !first.includes(pid))!;
      const stayed = pool.idlePids().find((pid) => first.includes(pid))!;
      await until(() => received(replacement).length === 1 && received(stayed).length === 2);
      expect(received(replacement)).toEqual([hint("b".repeat(64))]);
      expect(received(stayed).map((m) => m.artifactSha256)).toEqual([
        "a".repeat(64),
        "b".repeat(64),
      ]);
      expect(received(taken.child.pid!)).toHaveLength(1);
      taken.child.kill("SIGKILL");
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe("LocalWarmPool and preloads", () => {
  it("hands a run to a worker whose preload is over before one still preloading", async () => {
    // The first worker never finishes a preload; the second says so at once, for hints of
    // artifact "a…" only.
    let spawned = 0;
    const script = (answers: boolean) => `process.send({ type: "dagy:ready" });
      process.on("message", (m) => {
        if (${answers} && m.type === "dagy:preload" && m.artifactSha256.startsWith("a"))
          process.send({ type: "dagy:preloaded", artifactUri: m.artifactUri, artifactSha256: m.artifactSha256 });
      });`;
    const pool = new LocalWarmPool({
      size: 2,
      sizes: [SIZE],
      refillDelayMs: 60_000,
      spawn: () =>
        spawn(process.execPath, ["-e", script(spawned++ === 1)], {
          stdio: ["ignore", "pipe", "pipe", "ipc"],
        }),
    });
    const until = async (probe: () => boolean): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!probe()) {
        if (Date.now() > deadline) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const hint = (sha: string) => ({
      type: "dagy:preload" as const,
      artifactUri: "s3://bucket/flows/hello/1/artifact.zip",
      artifactSha256: sha,
    });
    try {
      await until(() => pool.stats.idle === 2);
      const [slow, quick] = pool.idlePids();
      expect(pool.stats.preloading).toBe(0); // nothing hinted yet

      pool.hint(SIZE, hint("a".repeat(64)));
      expect(pool.stats.preloading).toBe(2);
      await until(() => pool.stats.preloading === 1);

      // A newer hint: the answer to the old one no longer counts.
      pool.hint(SIZE, hint("b".repeat(64)));
      expect(pool.stats.preloading).toBe(2);
      pool.hint(SIZE, hint("a".repeat(64)));
      await until(() => pool.stats.preloading === 1);

      const taken = pool.take(SIZE)!;
      expect(taken.child.pid).toBe(quick);
      // With none preloaded, a preloading worker is still better than a cold start.
      const next = pool.take(SIZE)!;
      expect(next.child.pid).toBe(slow);
      taken.child.kill("SIGKILL");
      next.child.kill("SIGKILL");
    } finally {
      await pool.close();
    }
  }, 40_000);
});

describe("LocalWarmPool refills off the run's critical path", () => {
  /** Workers that say ready and wait; every spawn is counted. */
  function countingPool(refillDelayMs: number) {
    let spawned = 0;
    const pool = new LocalWarmPool({
      size: 2,
      sizes: [SIZE],
      refillDelayMs,
      spawn: () => {
        spawned++;
        return spawn(
          process.execPath,
          ["-e", `process.send({ type: "dagy:ready" }); process.on("message", () => {})`],
          {
            stdio: ["ignore", "pipe", "pipe", "ipc"],
          },
        );
      },
    });
    return { pool, spawned: () => spawned };
  }
  const until = async (probe: () => boolean): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!probe()) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const ticks = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };

  it("defers the refill while an idle worker remains, even past the taken worker's run", async () => {
    const { pool, spawned } = countingPool(60_000);
    try {
      await until(() => pool.stats.idle === 2);
      const taken = pool.take(SIZE)!;
      await ticks(5);
      // One idle worker is left: nothing starts beside the run it was taken for...
      expect(spawned()).toBe(2);
      expect(pool.stats).toEqual({ idle: 1, starting: 0, preloading: 0 });
      // ...nor as it ends, when its caller reads the result.
      const gone = new Promise((r) => taken.child.once("close", r));
      taken.child.kill("SIGKILL");
      await gone;
      await ticks(5);
      expect(spawned()).toBe(2);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it("refills at once when the size has no idle worker left", async () => {
    const { pool, spawned } = countingPool(60_000);
    const taken = [];
    try {
      await until(() => pool.stats.idle === 2);
      taken.push(pool.take(SIZE)!);
      taken.push(pool.take(SIZE)!);
      // The deferred refill of the first take is not waited for: the pool ran dry.
      await until(() => spawned() === 4);
      await until(() => pool.stats.idle === 2);
    } finally {
      for (const worker of taken) worker.child.kill("SIGKILL");
      await pool.close();
    }
  }, 30_000);

  it("refills after the delay when the taken worker's run goes on", async () => {
    const { pool, spawned } = countingPool(100);
    let taken;
    try {
      await until(() => pool.stats.idle === 2);
      taken = pool.take(SIZE)!;
      await until(() => spawned() === 3);
      await until(() => pool.stats.idle === 2);
      expect(taken.alive).toBe(true);
    } finally {
      taken?.child.kill("SIGKILL");
      await pool.close();
    }
  }, 30_000);
});
