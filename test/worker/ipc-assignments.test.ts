/**
 * The local pool's IPC assignment source: a run handed over already claimed by the pool is
 * taken as claimed only when the record is that very run's, RUNNING; anything else and the
 * worker claims the run itself (a duplicate claim would fail, and the run would not run).
 */
import { EventEmitter } from "node:events";
import { IpcAssignmentSource } from "../../lib/worker/ipc-assignments";

function channel() {
  const emitter = new EventEmitter();
  const sent: unknown[] = [];
  return {
    sent,
    deliver: (message: unknown) => emitter.emit("message", message),
    port: {
      connected: true,
      send: (message: unknown) => sent.push(message),
      on: (event: string, listener: (...args: unknown[]) => void) => emitter.on(event, listener),
    },
  };
}

const env = { DAGY_RUN_ID: "run-1", DAGY_ORG_ID: "acme-corp" };

async function handed(claimed: unknown) {
  const c = channel();
  const source = new IpcAssignmentSource(c.port);
  const next = source.next(new AbortController().signal);
  c.deliver({ type: "dagy:assign", env, claimed });
  return next;
}

describe("IpcAssignmentSource and a run the pool claimed", () => {
  it("takes the claimed record of this very run, RUNNING", async () => {
    const record = { run_id: "run-1", org_id: "acme-corp", status: "RUNNING" };
    const assignment = await handed(record);
    expect(assignment?.claimed).toEqual(record);
    expect(assignment?.env).toEqual(env);
  });

  it.each([
    ["another run's record", { run_id: "run-2", org_id: "acme-corp", status: "RUNNING" }],
    ["a record not RUNNING", { run_id: "run-1", org_id: "acme-corp", status: "QUEUED" }],
    ["null", null],
    ["a string", "RUNNING"],
  ])("ignores %s: the worker claims the run itself", async (_, claimed) => {
    const assignment = await handed(claimed);
    expect(assignment).toBeDefined();
    expect(assignment).not.toHaveProperty("claimed");
    expect(assignment?.env).toEqual(env);
  });
});

describe("IpcAssignmentSource and preloads", () => {
  const preload = {
    type: "dagy:preload",
    artifactUri: "s3://bucket/flows/hello/1/artifact.zip",
    artifactSha256: "a".repeat(64),
  };
  const preloaded = {
    type: "dagy:preloaded",
    artifactUri: preload.artifactUri,
    artifactSha256: preload.artifactSha256,
  };

  it("tells the pool when a preload is over, and only then", async () => {
    const c = channel();
    let finish: () => void = () => undefined;
    const seen: unknown[] = [];
    new IpcAssignmentSource(c.port, {
      onPreload: (message) => {
        seen.push(message);
        return new Promise<void>((resolve) => (finish = resolve));
      },
    });
    c.deliver(preload);
    expect(seen).toEqual([preload]);
    await new Promise((r) => setImmediate(r));
    expect(c.sent).toEqual([]);
    finish();
    await new Promise((r) => setImmediate(r));
    expect(c.sent).toEqual([preloaded]);
  });

  it("says a failed preload is over too (the pool must not wait for it)", async () => {
    const c = channel();
    new IpcAssignmentSource(c.port, { onPreload: () => Promise.reject(new Error("no such key")) });
    c.deliver(preload);
    await new Promise((r) => setImmediate(r));
    expect(c.sent).toEqual([preloaded]);
  });

  it("says nothing for a malformed hint, which is not a preload", async () => {
    const c = channel();
    const seen: unknown[] = [];
    new IpcAssignmentSource(c.port, {
      onPreload: (message) => {
        seen.push(message);
        return Promise.resolve();
      },
    });
    c.deliver({ ...preload, artifactSha256: "not-a-sha" });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    expect(c.sent).toEqual([]);
  });
});
