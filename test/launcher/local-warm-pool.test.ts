/**
 * LocalWarmPool on its own, with real processes: a size whose workers keep dying before they
 * are ready is retried with growing delays and then given up (runs of that size start cold),
 * never respawned in a tight loop.
 */
import { spawn } from "node:child_process";
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
});
