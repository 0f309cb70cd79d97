/**
 * Waiting for a run (`GET /runs/{id}?wait_seconds=N`) below the HTTP edge: the in-process
 * change hub wakes exactly the readers of the run that changed, never loses a change that
 * arrives before the reader waits, and lets go of its watchers; the polling feed (AWS) wakes on
 * its timer; and the runs service returns a run as soon as it is terminal, or as it is when the
 * wait is over, refusing a wait past the limit and an unknown run at once.
 */
import { RunNotFoundError, ValidationError } from "../../lib/errors";
import type { RunRecord } from "../../lib/persistence/records";
import type { RunStatus } from "../../lib/persistence/schema";
import type { Caller } from "../../lib/services/caller";
import {
  MAX_RUN_WAIT_SECONDS,
  pollingRunChanges,
  RunChangeHub,
} from "../../lib/services/run-changes";
import { RunsService, type RunLauncher } from "../../lib/services/runs";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Which settles first: the promise ("woke") or a `ms` timer ("timer"). */
async function race(promise: Promise<void>, ms: number): Promise<"woke" | "timer"> {
  let timer: NodeJS.Timeout | undefined;
  const fallback = new Promise<"timer">((resolve) => {
    timer = setTimeout(() => resolve("timer"), ms);
  });
  try {
    return await Promise.race([promise.then(() => "woke" as const), fallback]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending promise callbacks and I/O run until `probe` holds (or throws after 5 s). */
async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe("RunChangeHub", () => {
  test("next() wakes when its run changes", async () => {
    const hub = new RunChangeHub();
    const watch = hub.watch("run-a");
    const next = watch.next(10_000);
    setTimeout(() => hub.changed("run-a"), 10);
    expect(await race(next, 2000)).toBe("woke");
    watch.close();
  });

  test("another run's change does not wake it", async () => {
    const hub = new RunChangeHub();
    const watch = hub.watch("run-a");
    const next = watch.next(10_000);
    hub.changed("run-b");
    expect(await race(next, 100)).toBe("timer");
    // Still waiting for its own run: that one wakes it.
    hub.changed("run-a");
    expect(await race(next, 2000)).toBe("woke");
    watch.close();
  });

  test("a change that arrives before next() is not missed", async () => {
    const hub = new RunChangeHub();
    const watch = hub.watch("run-a");
    hub.changed("run-a");
    expect(await race(watch.next(10_000), 2000)).toBe("woke");
    // ...and is consumed: the following next() waits again.
    expect(await race(watch.next(10_000), 100)).toBe("timer");
    watch.close();
  });

  test("next() resolves when its timeout is over without a change", async () => {
    const hub = new RunChangeHub();
    const watch = hub.watch("run-a");
    expect(await race(watch.next(20), 5000)).toBe("woke");
    watch.close();
  });

  test("close() wakes a pending next() and drops `watching` back to 0", async () => {
    const hub = new RunChangeHub();
    const watch = hub.watch("run-a");
    expect(hub.watching).toBe(1);
    const next = watch.next(10_000);
    watch.close();
    expect(await race(next, 2000)).toBe("woke");
    expect(hub.watching).toBe(0);
    // Closing twice counts once; a closed watch's next() does not wait.
    watch.close();
    expect(hub.watching).toBe(0);
    expect(await race(watch.next(10_000), 2000)).toBe("woke");
  });

  test("two watchers of one run both wake on its change", async () => {
    const hub = new RunChangeHub();
    const first = hub.watch("run-a");
    const second = hub.watch("run-a");
    expect(hub.watching).toBe(2);
    const nexts = [first.next(10_000), second.next(10_000)];
    hub.changed("run-a");
    expect(await Promise.all(nexts.map((next) => race(next, 2000)))).toEqual(["woke", "woke"]);
    first.close();
    expect(hub.watching).toBe(1);
    second.close();
    expect(hub.watching).toBe(0);
  });
});

describe("pollingRunChanges", () => {
  test("next() resolves on the feed's timer", async () => {
    const watch = pollingRunChanges(20).watch("run-a");
    expect(await race(watch.next(50), 5000)).toBe("woke");
    watch.close();
  });

  test("next(0) resolves", async () => {
    const watch = pollingRunChanges().watch("run-a");
    expect(await race(watch.next(0), 5000)).toBe("woke");
    watch.close();
  });

  test("a long interval is cut short by the time left", async () => {
    const watch = pollingRunChanges(60_000).watch("run-a");
    expect(await race(watch.next(20), 5000)).toBe("woke");
    watch.close();
  });
});

describe("RunsService.get with waitSeconds", () => {
  const caller: Caller = { kind: "local" };

  function runRecord(runId: string, status: RunStatus): RunRecord {
    return {
      run_id: runId,
      org_id: "acme-corp",
      flow_name: "hello",
      flow_version: "1.0.0",
      status,
      environment: "develop",
      correlation_id: "c-1",
      trigger_source: "api",
      artifact_s3_uri: "s3://artifacts/flows/hello/1.0.0/artifact.zip",
      artifact_sha256: "0".repeat(64),
      dep_package_uris: [],
      secret_names: [],
      created_at: "2025-03-14T09:00:00.000Z",
      updated_at: "2025-03-14T09:00:00.000Z",
    };
  }

  /** A launcher whose one run (`run-1`, acme-corp) has the status `current.status`. */
  function fakeLauncher(initial: RunStatus) {
    const state = { status: initial, reads: 0, orgs: [] as (string | undefined)[] };
    const launcher = {
      getRunStatus(runId: string, options?: { readonly orgId?: string }) {
        state.reads++;
        state.orgs.push(options?.orgId);
        if (runId !== "run-1") return Promise.resolve(undefined);
        if (options?.orgId !== undefined && options.orgId !== "acme-corp") {
          return Promise.resolve(undefined);
        }
        return Promise.resolve(runRecord(runId, state.status));
      },
    } as unknown as RunLauncher;
    return { state, launcher };
  }

  function service(launcher: RunLauncher, hub: RunChangeHub): RunsService {
    return new RunsService({
      launcher,
      runs: { list: () => Promise.reject(new Error("not used")) },
      runChanges: hub,
    });
  }

  test("a run that ends while the caller waits is returned SUCCEEDED once the change is announced", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("RUNNING");
    const runs = service(launcher, hub);
    const pending = runs.get(caller, "run-1", "acme-corp", { waitSeconds: MAX_RUN_WAIT_SECONDS });
    // The first read saw RUNNING, and the reader is now watching the run.
    await until("the first read", () => state.reads === 1 && hub.watching === 1);
    expect(
      await race(
        pending.then(() => undefined),
        100,
      ),
    ).toBe("timer");
    state.status = "SUCCEEDED";
    hub.changed("run-1");
    const run = await pending;
    expect(run.status).toBe("SUCCEEDED");
    // One read before the wait, one after the wake-up.
    expect(state.reads).toBe(2);
    expect(state.orgs).toEqual(["acme-corp", "acme-corp"]);
    expect(hub.watching).toBe(0);
  }, 10_000);

  test("a change to another run does not end the wait", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("RUNNING");
    const pending = service(launcher, hub).get(caller, "run-1", "acme-corp", { waitSeconds: 1 });
    await until("the first read", () => state.reads === 1 && hub.watching === 1);
    hub.changed("run-2");
    expect(
      await race(
        pending.then(() => undefined),
        200,
      ),
    ).toBe("timer");
    expect(state.reads).toBe(1);
    expect((await pending).status).toBe("RUNNING");
  }, 10_000);

  test("a run that never ends is returned as it is once a 1-second wait is over", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("RUNNING");
    const run = await service(launcher, hub).get(caller, "run-1", "acme-corp", { waitSeconds: 1 });
    expect(run.status).toBe("RUNNING");
    // Read before waiting and again when the wait ran out (a timer firing a hair early may
    // cost one more short wait and read).
    expect(state.reads).toBeGreaterThanOrEqual(2);
    expect(hub.watching).toBe(0);
  }, 10_000);

  test("a terminal run is returned at the first read, without watching", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("FAILED");
    const run = await service(launcher, hub).get(caller, "run-1", "acme-corp", {
      waitSeconds: MAX_RUN_WAIT_SECONDS,
    });
    expect(run.status).toBe("FAILED");
    expect(state.reads).toBe(1);
    expect(hub.watching).toBe(0);
  }, 5_000);

  test("without waitSeconds (or with 0) the run is read once, as it is", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("QUEUED");
    const runs = service(launcher, hub);
    expect((await runs.get(caller, "run-1", "acme-corp")).status).toBe("QUEUED");
    expect((await runs.get(caller, "run-1", "acme-corp", { waitSeconds: 0 })).status).toBe(
      "QUEUED",
    );
    expect(state.reads).toBe(2);
  }, 5_000);

  test("waitSeconds 21 is a ValidationError naming wait_seconds, before any read", async () => {
    const hub = new RunChangeHub();
    const { state, launcher } = fakeLauncher("RUNNING");
    const error = await service(launcher, hub)
      .get(caller, "run-1", "acme-corp", { waitSeconds: MAX_RUN_WAIT_SECONDS + 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe("wait_seconds");
    expect(state.reads).toBe(0);
    expect(hub.watching).toBe(0);
  }, 5_000);

  test("an unknown run is RunNotFoundError at once, though the caller would wait 20 s", async () => {
    const hub = new RunChangeHub();
    const { launcher } = fakeLauncher("RUNNING");
    await expect(
      service(launcher, hub).get(caller, "no-such-run", "acme-corp", {
        waitSeconds: MAX_RUN_WAIT_SECONDS,
      }),
    ).rejects.toBeInstanceOf(RunNotFoundError);
    expect(hub.watching).toBe(0);
  }, 5_000);

  test("another org's run is RunNotFoundError at once, though the caller would wait 20 s", async () => {
    const hub = new RunChangeHub();
    const { launcher } = fakeLauncher("RUNNING");
    await expect(
      service(launcher, hub).get(caller, "run-1", "other-org", {
        waitSeconds: MAX_RUN_WAIT_SECONDS,
      }),
    ).rejects.toBeInstanceOf(RunNotFoundError);
    expect(hub.watching).toBe(0);
  }, 5_000);
});
