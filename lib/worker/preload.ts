/**
 * Preloading while idle (issue #14): the local pool tells its idle workers which artifact the
 * next run most likely needs (the last one of their size: `dagy:preload`), and each fetches it,
 * verifies its SHA-256, and opens it (unzips, validates, checks the bundle's own hash) while it
 * waits. It also makes one harmless read of the runs table, so the first real request of its
 * run does not pay for the DynamoDB client's first use.
 *
 * An assignment whose artifact is the preloaded one (same URI, same SHA-256) skips all of that;
 * any other runs as before. The worker tells its pool when a preload is over (`dagy:preloaded`),
 * so the pool hands the next run to a worker that has it ready rather than one still fetching.
 * The bundle itself is not run here: its top-level code runs with the run's variables, as a cold
 * worker's does. A preload that fails is only a miss.
 */
import { sha256Hex } from "../hash";
import { openArtifact, type OpenedArtifact } from "../artifact/artifact";
import type { ObjectStore } from "../storage/object-store";

/** Parent -> idle worker: the artifact to have ready, and the table its run will use. */
export interface PreloadMessage {
  readonly type: "dagy:preload";
  readonly artifactUri: string;
  readonly artifactSha256: string;
  readonly runsTable?: string;
}

/** Idle worker -> parent: the preload of this artifact is over (done, or failed: a miss). */
export interface PreloadedMessage {
  readonly type: "dagy:preloaded";
  readonly artifactUri: string;
  readonly artifactSha256: string;
}

export function isPreloadMessage(message: unknown): message is PreloadMessage {
  if (message === null || typeof message !== "object") return false;
  const m = message as Partial<PreloadMessage>;
  return (
    m.type === "dagy:preload" &&
    typeof m.artifactUri === "string" &&
    typeof m.artifactSha256 === "string" &&
    /^[0-9a-fA-F]{64}$/.test(m.artifactSha256) &&
    (m.runsTable === undefined || typeof m.runsTable === "string")
  );
}

/** An artifact fetched, its hash verified, and opened. */
export interface PreloadedArtifact {
  readonly uri: string;
  readonly sha256: string;
  readonly bytes: Buffer;
  readonly opened: OpenedArtifact;
}

export interface PreloaderDeps {
  /** Where an artifact comes from (the local artifact cache, then S3). */
  readonly store: (uri: string, sha256: string) => Pick<ObjectStore, "get">;
  /** One harmless request to the runs table (warms the client). Failures are ignored. */
  readonly touchRunsTable?: (table: string) => Promise<unknown>;
  /** Reports a preload (a line for the worker's log). */
  readonly onPreloaded?: (uri: string, sha256: string, error?: unknown) => void;
}

export class Preloader {
  private current:
    | { readonly uri: string; readonly sha256: string; readonly done: Promise<PreloadedArtifact> }
    | undefined;
  private touched = new Set<string>();

  constructor(private readonly deps: PreloaderDeps) {}

  /**
   * Starts preloading (the same artifact again: nothing new). Resolves when it is over, the
   * client's warm-up request included; never rejects (a failed preload is only a miss).
   */
  preload(message: PreloadMessage): Promise<void> {
    const sha256 = message.artifactSha256.toLowerCase();
    let touched: Promise<unknown> = Promise.resolve();
    if (message.runsTable !== undefined && !this.touched.has(message.runsTable)) {
      this.touched.add(message.runsTable);
      touched = this.deps.touchRunsTable?.(message.runsTable).catch(() => undefined) ?? touched;
    }
    if (this.current?.uri !== message.artifactUri || this.current.sha256 !== sha256) {
      const done = this.load(message.artifactUri, sha256);
      done.then(
        () => this.deps.onPreloaded?.(message.artifactUri, sha256),
        (error: unknown) => this.deps.onPreloaded?.(message.artifactUri, sha256, error),
      );
      this.current = { uri: message.artifactUri, sha256, done };
    }
    const loaded = this.current.done;
    return Promise.all([touched, loaded.catch(() => undefined)]).then(() => undefined);
  }

  /**
   * The preloaded artifact when it is this one (waiting for a preload still under way: it is
   * the same work, begun earlier); undefined otherwise, or when the preload failed.
   */
  async take(uri: string, sha256: string): Promise<PreloadedArtifact | undefined> {
    const current = this.current;
    if (current === undefined || current.uri !== uri || current.sha256 !== sha256.toLowerCase()) {
      return undefined;
    }
    return current.done.catch(() => undefined);
  }

  private async load(uri: string, sha256: string): Promise<PreloadedArtifact> {
    const bytes = await this.deps.store(uri, sha256).get(uri);
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      throw new Error(`artifact ${uri} has sha256 ${actual}, expected ${sha256}`);
    }
    return { uri, sha256, bytes, opened: openArtifact(bytes) };
  }
}
