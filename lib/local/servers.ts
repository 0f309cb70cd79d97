/**
 * Wire-compatible local DynamoDB (dynalite) and S3 (s3rver) servers, started in-process.
 * The embedded default (`npm start`) and the tests talk to them through the very same AWS SDK
 * v3 clients as in the cloud; only the endpoints differ.
 */
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Table and bucket creation and the data manifest live in their own modules; the platform and
// tests import them from here too.
export { ensureTables } from "./tables";
export { ensureBuckets } from "./buckets";
export {
  checkStoresAgainstManifest,
  countStoreContents,
  missingFromStores,
  recordDataManifest,
} from "./manifest";

// dynalite and s3rver ship no type declarations; these are the parts we use.
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;
interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  /** Path-style only: `http://host:port/<bucket>/<key>`, as our S3 client uses. */
  vhostBuckets: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite") as DynaliteFactory;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as S3rverConstructor;

export interface LocalServers {
  /** e.g. `http://127.0.0.1:4567`. */
  readonly dynamodbEndpoint: string;
  /** e.g. `http://127.0.0.1:4568` (path-style addressing). */
  readonly s3Endpoint: string;
  /**
   * Tells `tap.onWrite` of each item write the DynamoDB server carried out (PutItem, UpdateItem,
   * DeleteItem): its table and key, in DynamoDB JSON (for PutItem the whole item, which holds
   * the key). Requests are looked at only while `tap.active()` says so, as they arrive.
   * Returns the undo.
   */
  tapWrites(tap: WriteTap): () => void;
  /** Stops both servers; dynalite flushes its store to disk when persistent. */
  close(): Promise<void>;
}

/** Who wants to hear of the local DynamoDB's item writes (see LocalServers.tapWrites). */
export interface WriteTap {
  active(): boolean;
  /** The write was carried out (answered 200). */
  onWrite(table: string, key: Readonly<Record<string, unknown>>): void;
  /**
   * A write to `table` has arrived whole and is about to be carried out (said before the store
   * changes), and, exactly once for each such call, its answer has gone out or its connection
   * closed (`onWriteEnd`), whether it was carried out or not.
   */
  onWriteBegin?(table: string): void;
  onWriteEnd?(table: string): void;
}

/** The item writes a tap hears of: their targets (`X-Amz-Target`) and where the key is. */
const ITEM_WRITES: Readonly<Record<string, "Key" | "Item">> = {
  "DynamoDB_20120810.PutItem": "Item",
  "DynamoDB_20120810.UpdateItem": "Key",
  "DynamoDB_20120810.DeleteItem": "Key",
};
/** Bodies past this are not read twice (an item is at most 400 KB; requests carry more). */
const TAP_MAX_BODY = 1024 * 1024;

/** Listens beside dynalite's own handler: sees the body as it does, and the answer. */
function writeListener(taps: Set<WriteTap>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const target = req.headers["x-amz-target"];
    const keyField = typeof target === "string" ? ITEM_WRITES[target] : undefined;
    if (keyField === undefined) return;
    const listening = [...taps].filter((tap) => tap.active());
    if (listening.length === 0) return;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= TAP_MAX_BODY) chunks.push(chunk);
    });
    // dynalite reads the body whole too, then reads the table before it writes: this handler,
    // in the same turn as its own, runs before the store changes.
    req.once("end", () => {
      if (size > TAP_MAX_BODY) return;
      let body: { TableName?: unknown; Key?: unknown; Item?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        return;
      }
      const table = body.TableName;
      const key = body[keyField];
      if (typeof table !== "string" || key === null || typeof key !== "object") return;
      const each = (call: (tap: WriteTap) => void): void => {
        for (const tap of listening) {
          try {
            call(tap);
          } catch {
            // A listener's failure is its own: it changes nothing for the store or the others.
          }
        }
      };
      each((tap) => tap.onWriteBegin?.(table));
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        if (res.statusCode === 200 && res.writableFinished) {
          each((tap) => tap.onWrite(table, key as Record<string, unknown>));
        }
        each((tap) => tap.onWriteEnd?.(table));
      };
      res.once("finish", end);
      res.once("close", end);
      // Answered or gone already (a request refused before its body ended): it is over.
      if (res.writableFinished || res.socket?.destroyed !== false) end();
    });
  };
}

export interface LocalServerOptions {
  /**
   * Persist state under this directory (`<dataDir>/dynamodb`, `<dataDir>/s3`).
   * Default: in-memory DynamoDB and a temporary S3 directory removed on close.
   */
  readonly dataDir?: string;
  /** 0 (default) picks a free port. */
  readonly dynamodbPort?: number;
  /** 0 (default) picks a free port. */
  readonly s3Port?: number;
  /** Default `127.0.0.1`: never listen beyond the machine by accident. */
  readonly host?: string;
}

export async function startLocalServers(opts: LocalServerOptions = {}): Promise<LocalServers> {
  const host = opts.host ?? "127.0.0.1";
  let dynamoPath: string | undefined;
  let s3Dir: string;
  let tempDir: string | undefined;
  if (opts.dataDir !== undefined) {
    dynamoPath = join(opts.dataDir, "dynamodb");
    s3Dir = join(opts.dataDir, "s3");
    // Run data is private (the stores hold parameters, outputs and logs).
    await mkdir(dynamoPath, { recursive: true, mode: 0o700 });
    await mkdir(s3Dir, { recursive: true, mode: 0o700 });
  } else {
    tempDir = await mkdtemp(join(tmpdir(), "dagy-s3-"));
    s3Dir = tempDir;
  }

  // Tables are ACTIVE at once: nothing here should wait for simulated provisioning.
  const dynamo = dynalite({
    ...(dynamoPath !== undefined ? { path: dynamoPath } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    dynamo.once("error", reject);
    dynamo.listen(opts.dynamodbPort ?? 0, host, () => {
      dynamo.off("error", reject);
      resolve();
    });
  });
  const dynamoPort = (dynamo.address() as AddressInfo).port;
  const taps = new Set<WriteTap>();
  dynamo.on("request", writeListener(taps));

  const s3 = new S3rver({
    address: host,
    port: opts.s3Port ?? 0,
    silent: true,
    directory: s3Dir,
    resetOnClose: false,
    vhostBuckets: false,
  });
  let s3Address: AddressInfo;
  try {
    s3Address = await s3.run();
  } catch (error) {
    await closeHttpServer(dynamo);
    throw error;
  }

  let closed = false;
  return {
    dynamodbEndpoint: `http://${urlHost(host)}:${dynamoPort}`,
    s3Endpoint: `http://${urlHost(host)}:${s3Address.port}`,
    tapWrites(tap) {
      taps.add(tap);
      return () => taps.delete(tap);
    },
    async close() {
      if (closed) return;
      closed = true;
      const results = await Promise.allSettled([
        closeHttpServer(dynamo),
        s3.httpServer ? closeHttpServer(s3.httpServer) : Promise.resolve(),
      ]);
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;
    },
  };
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Closes a server without waiting for clients' idle keep-alive sockets to time out. */
function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
