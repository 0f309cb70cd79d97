/**
 * The embedded default's HTTP front door: a node:http server that turns each request into the
 * API Gateway HTTP API (payload format 2.0) event the `api` Lambda receives in AWS, hands it to
 * the very same handler, and writes the handler's structured result back. Nothing here knows a
 * route: local and cloud cannot diverge because there is only one router, in lib/api.
 *
 * The local API has no authentication, so it must not be callable by web pages the developer
 * happens to visit: every request passes `checkLocalRequest` (./http-server-guards.ts) before
 * the handler runs. The event mapping lives in ./http-server-event.ts. This file keeps every
 * name importable from here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  toHttpApiEvent,
  writeHttpApiResult,
  type HttpApiEvent,
  type HttpApiHandler,
} from "./http-server-event";
import { checkLocalRequest } from "./http-server-guards";

export {
  parseQueryString,
  toHttpApiEvent,
  writeHttpApiResult,
  type HttpApiEvent,
  type HttpApiHandler,
  type HttpApiResult,
  type IncomingRequest,
} from "./http-server-event";
export { allowedHostHeaders, checkLocalRequest, type RequestCheck } from "./http-server-guards";

/** API Gateway's payload limit; a larger body is refused before the handler sees it. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface HttpApiServerOptions {
  readonly handler: HttpApiHandler;
  /** Default `127.0.0.1`: the local platform has no authentication, so stay on the machine. */
  readonly host?: string;
  /** 0 picks a free port. Default 8787. */
  readonly port?: number;
  /** Called after each request, e.g. for an access log. */
  readonly onRequest?: (info: RequestLogEntry) => void;
  /** Called when the handler throws (the client gets a 500 without details). */
  readonly onError?: (error: unknown, event: HttpApiEvent) => void;
  /** Serves requests it claims (returns true), e.g. the console's files, before the API sees them. */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface RequestLogEntry {
  readonly method: string;
  readonly path: string;
  readonly statusCode: number;
  readonly durationMs: number;
}

export interface HttpApiServer {
  /** e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError());
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, statusCode: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startHttpApiServer(options: HttpApiServerOptions): Promise<HttpApiServer> {
  const host = options.host ?? "127.0.0.1";
  let listenPort = 0;
  const server: Server = createServer((req, res) => {
    const started = Date.now();
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const finish = (statusCode: number) =>
      options.onRequest?.({
        method,
        path: url.split("?")[0] ?? url,
        statusCode,
        durationMs: Date.now() - started,
      });
    if (options.intercept?.(req, res)) {
      res.on("finish", () => finish(res.statusCode));
      return;
    }
    void (async () => {
      const declaresBody =
        req.headers["transfer-encoding"] !== undefined ||
        (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
      const refused = checkLocalRequest(
        { method, headers: req.headers, hasBody: declaresBody },
        { host, port: listenPort },
      );
      if (refused !== undefined) {
        // The handler never sees it; the body (if any) is discarded.
        req.resume();
        res.setHeader("connection", "close");
        sendJson(res, refused.statusCode, { error: refused.error });
        finish(refused.statusCode);
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, MAX_BODY_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          sendJson(res, 413, { error: `Request body exceeds ${MAX_BODY_BYTES} bytes` });
          finish(413);
        } else {
          res.destroy();
        }
        return;
      }
      const event = toHttpApiEvent({
        method,
        url,
        rawHeaders: req.rawHeaders,
        body,
        sourceIp: normalizeIp(req.socket.remoteAddress),
        httpVersion: req.httpVersion,
        host: req.headers.host ?? host,
      });
      try {
        const result = await options.handler(event);
        writeHttpApiResult(res, result);
        finish(result.statusCode);
      } catch (error) {
        // The handler maps every typed error itself; reaching here is a bug. Never leak it.
        options.onError?.(error, event);
        if (!res.headersSent) sendJson(res, 500, { error: "Internal server error" });
        else res.destroy();
        finish(500);
      }
    })();
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8787, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  listenPort = port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let closed = false;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`, as API Gateway reports IPv4 clients. */
function normalizeIp(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
}
