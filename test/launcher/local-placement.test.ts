/**
 * LocalBackend.place with real processes: a placement holds a slot (and an idle warm worker)
 * from before the run is written until the launcher starts it, so the mode it reports is the
 * mode the run gets; a placement given back returns its worker; one stopped before its start
 * (a cancel) never starts.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend, type LocalWorkerExit, type WorkerLaunchSpec } from "../../lib/launcher";
import type { RunRecord } from "../../lib/persistence/records";

const SIZE = { cpu: "256", memory: "512" };

/**
 * A worker: warm (DAGY_WARM_SOURCE=ipc) it says ready and, assigned a run, writes
 * `<run>.json` ({mode, pid}) and exits 0; cold it writes the same at once and exits.
 */
const WORKER = `
const fs = require("fs");
const write = (env, mode) => fs.writeFileSync(process.cwd() + "/" + env.DAGY_RUN_ID + ".json", JSON.stringify({ mode, pid: process.pid }));
if (process.env.DAGY_WARM_SOURCE === "ipc") {
  process.on("message", (m) => { if (m.type === "dagy:assign") { write(m.env, "warm"); process.exit(0); } });
  process.send({ type: "dagy:ready" });
} else {
  write(process.env, "cold");
}`;

let dir: string;
let backend: LocalBackend | undefined;
const exits: Array<{ runId: string; exit: LocalWorkerExit }> = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dagy-placement-"));
  exits.length = 0;
});
afterEach(async () => {
  await backend?.close();
  backend = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function makeBackend(options: { warm: number; maxConcurrent?: number }): LocalBackend {
  backend = new LocalBackend({
    workerCommand: [process.execPath, "-e", WORKER],
    cwd: dir,
    logDir: join(dir, "logs"),
    warm: options.warm,
    warmSizes: [SIZE],
    ...(options.maxConcurrent !== undefined ? { maxConcurrent: options.maxConcurrent } : {}),
    onExit: (runId, exit) => exits.push({ runId, exit }),
  });
  return backend;
}

function spec(runId: string): WorkerLaunchSpec {
  return {
    runId,
    orgId: "acme-corp",
    flowName: "hello",
    environment: { DAGY_RUN_ID: runId, DAGY_ORG_ID: "acme-corp" },
    ...SIZE,
    ephemeralStorageGib: 21,
    capacityProvider: "FARGATE",
    secretsEnv: {},
  };
}

async function until(probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ran = (runId: string) => existsSync(join(dir, `${runId}.json`));
const modeOf = (runId: string) =>
  (JSON.parse(readFileSync(join(dir, `${runId}.json`), "utf8")) as { mode: string }).mode;

describe("LocalBackend.place", () => {
  it("holds an idle warm worker for the run, which it then runs: the mode placed is the mode run", async () => {
    const b = makeBackend({ warm: 1 });
    await until(() => b.stats.idle === 1);
    const placement = b.place(spec("run-warm"));
    expect(placement).toMatchObject({
      taskArn: "local:run-warm",
      startMode: "warm",
      logStream: join(dir, "logs", "run-warm.log"),
    });
    // Held: no other placement can take it meanwhile.
    expect(b.stats.idle).toBe(0);
    const other = b.place(spec("run-other"));
    expect(other.startMode).toBe("cold");
    other.abandon();
    await placement.start();
    await until(() => exits.some((e) => e.runId === "run-warm"));
    expect(modeOf("run-warm")).toBe("warm");
    expect(ran("run-other")).toBe(false);
  }, 30_000);

  it("gives a held worker back to the pool when the placement is abandoned", async () => {
    const b = makeBackend({ warm: 2 });
    await until(() => b.stats.idle === 2);
    const held = b.idleWorkerPids();
    const placement = b.place(spec("run-abandoned"));
    expect(placement.startMode).toBe("warm");
    expect(b.stats.idle).toBe(1);
    placement.abandon();
    expect(b.stats.idle).toBe(2);
    expect(b.idleWorkerPids().sort()).toEqual(held.sort());
    // Given back is final: a late start is refused.
    await expect(placement.start()).rejects.toThrow(/given back/);
    await new Promise((r) => setTimeout(r, 200));
    expect(ran("run-abandoned")).toBe(false);
  }, 30_000);

  it("does not give back a held worker that died: a new one takes its place", async () => {
    const b = makeBackend({ warm: 2 });
    await until(() => b.stats.idle === 2);
    const before = b.idleWorkerPids();
    const placement = b.place(spec("run-given-back"));
    const dead = before.find((pid) => !b.idleWorkerPids().includes(pid))!;
    process.kill(dead, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    placement.abandon();
    await until(() => b.stats.idle === 2 && !b.idleWorkerPids().includes(dead));
    // The pool's workers run the next runs.
    await b.place(spec("run-after")).start();
    await b.place(spec("run-after-2")).start();
    await until(() => ran("run-after") && ran("run-after-2"));
    expect([modeOf("run-after"), modeOf("run-after-2")]).toEqual(["warm", "warm"]);
  }, 30_000);

  it("never starts a run stopped between its placement and its start, and says so", async () => {
    const b = makeBackend({ warm: 1 });
    await until(() => b.stats.idle === 1);
    const placement = b.place(spec("run-cancelled"));
    await b.stop(placement.taskArn, "cancelled by request");
    await placement.start();
    expect(exits).toEqual([
      {
        runId: "run-cancelled",
        exit: { taskArn: "local:run-cancelled", code: null, signal: null, neverStarted: true },
      },
    ]);
    await until(() => b.stats.idle === 1); // its worker went back to waiting
    expect(ran("run-cancelled")).toBe(false);
  }, 30_000);

  it("counts placements against maxConcurrent: a run placed beyond it waits, its mode unsettled", async () => {
    const b = makeBackend({ warm: 0, maxConcurrent: 1 });
    const first = b.place(spec("run-1"));
    const second = b.place(spec("run-2"));
    expect(first.startMode).toBe("cold");
    expect(second.startMode).toBeUndefined();
    await second.start();
    expect(b.stats).toMatchObject({ queued: 1 });
    await first.start();
    await until(() => exits.length === 2);
    expect(exits.map((e) => e.runId)).toEqual(["run-1", "run-2"]);
    expect(modeOf("run-1")).toBe("cold");
    expect(modeOf("run-2")).toBe("cold");
  }, 30_000);

  it("refuses to start once closed, giving its worker back", async () => {
    const b = makeBackend({ warm: 1 });
    await until(() => b.stats.idle === 1);
    const placement = b.place(spec("run-late"));
    await b.close();
    await expect(placement.start()).rejects.toThrow(/closed/);
    expect(ran("run-late")).toBe(false);
  }, 30_000);
});

describe("LocalBackend hands a held warm worker the run written claimed for it", () => {
  /** A warm worker that writes the assignment it was handed to `<run>.assign.json`, then exits. */
  const RECORDER = `
const fs = require("fs");
process.on("message", (m) => {
  if (m.type !== "dagy:assign") return;
  fs.writeFileSync(process.cwd() + "/" + m.env.DAGY_RUN_ID + ".assign.json", JSON.stringify(m));
  process.exit(0);
});
process.send({ type: "dagy:ready" });`;

  function recordingBackend(warm: number): LocalBackend {
    backend = new LocalBackend({
      workerCommand: [process.execPath, "-e", RECORDER],
      cwd: dir,
      logDir: join(dir, "logs"),
      warm,
      warmSizes: [SIZE],
      onExit: (runId, exit) => exits.push({ runId, exit }),
    });
    return backend;
  }
  const handed = (runId: string) =>
    JSON.parse(readFileSync(join(dir, `${runId}.assign.json`), "utf8")) as {
      env: Record<string, string>;
      claimed?: RunRecord;
    };
  const record = (runId: string): RunRecord =>
    ({ run_id: runId, org_id: "acme-corp", status: "RUNNING" }) as RunRecord;

  it("offers a claimed start only with a warm worker held, and hands that worker the record", async () => {
    const b = recordingBackend(1);
    await until(() => b.stats.idle === 1);
    const placement = b.place(spec("run-claimed"));
    expect(placement).toMatchObject({ startMode: "warm", startsClaimed: true });
    await placement.start(record("run-claimed"));
    await until(() => existsSync(join(dir, "run-claimed.assign.json")));
    expect(handed("run-claimed").claimed).toEqual(record("run-claimed"));
    expect(handed("run-claimed").env.DAGY_RUN_ID).toBe("run-claimed");
  }, 30_000);

  it("hands the run over unclaimed when started without a record: the worker claims it", async () => {
    const b = recordingBackend(1);
    await until(() => b.stats.idle === 1);
    await b.place(spec("run-unclaimed")).start();
    await until(() => existsSync(join(dir, "run-unclaimed.assign.json")));
    expect(handed("run-unclaimed")).not.toHaveProperty("claimed");
    expect(handed("run-unclaimed").env.DAGY_RUN_ID).toBe("run-unclaimed");
  }, 30_000);

  it("reports the run's end when its held worker died before the start: a claimed run is never stuck", async () => {
    const b = recordingBackend(1);
    await until(() => b.stats.idle === 1);
    const [pid] = b.idleWorkerPids();
    const placement = b.place(spec("run-orphaned"));
    expect(placement).toMatchObject({ startMode: "warm", startsClaimed: true });
    // The held worker dies after the placement, before the run is handed to it.
    process.kill(pid!, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    await placement.start(record("run-orphaned")).catch(() => undefined);
    await until(() => exits.some((e) => e.runId === "run-orphaned"));
    const exit = exits.find((e) => e.runId === "run-orphaned")!.exit;
    expect(exit).toMatchObject({ taskArn: placement.taskArn, signal: "SIGKILL" });
    expect(existsSync(join(dir, "run-orphaned.assign.json"))).toBe(false);
  }, 30_000);

  it("offers no claimed start for a new process, nor for a run waiting for a slot", async () => {
    const cold = recordingBackend(0);
    const placement = cold.place(spec("run-cold"));
    expect(placement.startMode).toBe("cold");
    expect(placement).not.toHaveProperty("startsClaimed");
    placement.abandon();
    await cold.close();

    // One slot, held by a warm placement: the next run would wait in the queue, on no worker.
    const b = new LocalBackend({
      workerCommand: [process.execPath, "-e", RECORDER],
      cwd: dir,
      logDir: join(dir, "logs"),
      warm: 1,
      warmSizes: [SIZE],
      maxConcurrent: 1,
    });
    backend = b;
    await until(() => b.stats.idle === 1);
    expect(b.place(spec("run-held"))).toMatchObject({ startsClaimed: true });
    const waiting = b.place(spec("run-waiting"));
    expect(waiting).not.toHaveProperty("startMode");
    expect(waiting).not.toHaveProperty("startsClaimed");
  }, 30_000);
});
