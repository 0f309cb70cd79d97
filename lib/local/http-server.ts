/**
 * The embedded default's HTTP front door: a node:http server that turns each request into the
 * API Gateway HTTP API (payload format 2.0) event the `api` Lambda receives in AWS, hands it to
 * the very same handler, and writes the handler's structured result back. Nothing here knows a
 * route: local and cloud cannot diverge because there is only one router, in lib/api.
 *
 * The local API has no authentication, so it must not be callable by web pages the developer
 * happens to visit. Before the handler runs, every request is checked (`checkLocalRequest`):
 *  - `Host` must be an address this server listens on (DNS rebinding: a page on
 *    `evil.example` re-resolved to 127.0.0.1 sends `Host: evil.example:8787`) -> 421;
 *  - `Origin`, when present, must be this server's own origin (browsers send it on every
 *    cross-origin request and on every POST) -> 403;
 *  - a state-changing request (POST, PUT, PATCH, DELETE) that carries a body or a content type
 *    must say `application/json`, which browsers may not send cross-origin without a
 *    preflight -> 415. Preflights get no CORS headers, so they fail.
 * The CLI sends no Origin, JSON bodies with their content type, and bodiless DELETEs: it passes.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The parts of an API Gateway v2 (HTTP API) proxy event that a handler may read. */
export interface HttpApiEvent {
  readonly version: "2.0";
  readonly routeKey: string;
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly cookies?: string[];
  /** Lower-cased names; repeated headers joined with a comma, as API Gateway does. */
  readonly headers: Record<string, string>;
  readonly queryStringParameters?: Record<string, string>;
  readonly pathParameters?: Record<string, string>;
  readonly requestContext: {
    readonly accountId: string;
    readonly apiId: string;
    readonly domainName: string;
    readonly domainPrefix: string;
    readonly http: {
      readonly method: string;
      readonly path: string;
      readonly protocol: string;
      readonly sourceIp: string;
      readonly userAgent: string;
    };
    readonly requestId: string;
    readonly routeKey: string;
    readonly stage: string;
    readonly time: string;
    readonly timeEpoch: number;
  };
  readonly body?: string;
  readonly isBase64Encoded: boolean;
}

/** The structured result a v2 handler returns. */
export interface HttpApiResult {
  readonly statusCode: number;
  readonly headers?: Record<string, string | number | boolean>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly cookies?: string[];
}

export type HttpApiHandler = (event: HttpApiEvent) => Promise<HttpApiResult>;

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Binding to these means "every interface": any IP literal is then our address. */
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]", ""]);

/** `[::1]` for IPv6 literals, as they appear in Host headers and URLs. */
function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function isIpLiteral(hostname: string): boolean {
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(hostname) || /^\[[0-9a-f:.]+\]$/i.test(hostname);
}

/** The `Host` values (lower case) a server listening on `host:port` answers to. */
export function allowedHostHeaders(host: string, port: number): Set<string> {
  const names = new Set(["127.0.0.1", "localhost", "[::1]", bracketed(host.toLowerCase())]);
  const values = new Set<string>();
  for (const name of names) {
    values.add(`${name}:${port}`);
    if (port === 80) values.add(name);
  }
  return values;
}

export interface RequestCheck {
  readonly statusCode: 403 | 415 | 421;
  readonly error: string;
}

/**
 * Whether a request may reach the handler (see the file comment); undefined when it may.
 * `hasBody`: the request carries a body (or says it will).
 */
export function checkLocalRequest(
  request: {
    readonly method: string;
    readonly headers: Readonly<Record<string, string | string[] | undefined>>;
    readonly hasBody: boolean;
  },
  listen: { readonly host: string; readonly port: number },
): RequestCheck | undefined {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(",") : value;
  };
  const allowed = allowedHostHeaders(listen.host, listen.port);
  const hostAllowed = (value: string): boolean => {
    const lower = value.toLowerCase();
    if (allowed.has(lower)) return true;
    // Bound to every interface: an IP literal with our port is one of our addresses (DNS
    // rebinding needs a name, so literals are safe).
    if (!WILDCARD_HOSTS.has(listen.host)) return false;
    const portSuffix = `:${listen.port}`;
    return lower.endsWith(portSuffix) && isIpLiteral(lower.slice(0, -portSuffix.length));
  };

  const host = header("host");
  if (host === undefined || !hostAllowed(host)) {
    return {
      statusCode: 421,
      error:
        `Host header ${JSON.stringify(host ?? "")} is not an address this platform listens on ` +
        `(${[...allowed].join(", ")}); requests through other host names are refused ` +
        "(DNS rebinding)",
    };
  }
  const origin = header("origin");
  if (origin !== undefined) {
    const prefix = "http://";
    const ours =
      origin.toLowerCase().startsWith(prefix) && hostAllowed(origin.slice(prefix.length));
    if (!ours) {
      return {
        statusCode: 403,
        error:
          `Origin ${JSON.stringify(origin)} is not allowed: the local API answers only its own ` +
          `origin (http://${host}) and grants no CORS`,
      };
    }
  }
  const method = request.method.toUpperCase();
  const contentType = header("content-type");
  if (STATE_CHANGING.has(method) && (request.hasBody || contentType !== undefined)) {
    const type = (contentType?.split(";")[0] ?? "").trim().toLowerCase();
    if (type !== "application/json") {
      return {
        statusCode: 415,
        error: `Content-Type must be application/json for a ${method} with a body (got ${JSON.stringify(contentType ?? "")})`,
      };
    }
  }
  return undefined;
}

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

/** Content types API Gateway passes through as text; anything else arrives base64-encoded. */
function isTextContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === "") return true;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return (
    type.startsWith("text/") ||
    type === "application/json" ||
    type.endsWith("+json") ||
    type === "application/xml" ||
    type.endsWith("+xml") ||
    type === "application/javascript" ||
    type === "application/x-www-form-urlencoded"
  );
}

/** Parses a raw query string the way API Gateway does: repeated keys are joined with commas. */
export function parseQueryString(raw: string): Record<string, string> | undefined {
  if (raw === "") return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const previous = out[key];
    out[key] = previous === undefined ? value : `${previous},${value}`;
  }
  return out;
}

export interface IncomingRequest {
  readonly method: string;
  /** The request target: path and query, e.g. `/runs?limit=5`. */
  readonly url: string;
  /** Alternating names and values, as node's `rawHeaders`. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly httpVersion: string;
  readonly host: string;
}

/** Builds the v2 event for one request. Exported for tests and for other front doors. */
export function toHttpApiEvent(req: IncomingRequest, now: Date = new Date()): HttpApiEvent {
  const queryIndex = req.url.indexOf("?");
  const rawPath = queryIndex === -1 ? req.url : req.url.slice(0, queryIndex);
  const rawQueryString = queryIndex === -1 ? "" : req.url.slice(queryIndex + 1);

  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? "").toLowerCase();
    const value = req.rawHeaders[i + 1] ?? "";
    // API Gateway moves cookies to their own array.
    if (name === "cookie") {
      cookies.push(
        ...value
          .split(";")
          .map((c) => c.trim())
          .filter((c) => c !== ""),
      );
      continue;
    }
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous},${value}`;
  }

  let body: string | undefined;
  let isBase64Encoded = false;
  if (req.body.length > 0) {
    if (isTextContentType(headers["content-type"])) {
      body = req.body.toString("utf8");
    } else {
      body = req.body.toString("base64");
      isBase64Encoded = true;
    }
  }

  const queryStringParameters = parseQueryString(rawQueryString);
  const method = req.method.toUpperCase();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: "local",
      apiId: "local",
      domainName: req.host,
      domainPrefix: req.host.split(".")[0] ?? req.host,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.sourceIp,
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded,
  };
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

/** Writes a v2 structured result: headers, cookies, base64 bodies decoded. */
export function writeHttpApiResult(res: ServerResponse, result: HttpApiResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  if (result.cookies && result.cookies.length > 0) headers["set-cookie"] = result.cookies;
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? "base64" : "utf8");
  // API Gateway answers JSON when a handler sets no content type.
  if (headers["content-type"] === undefined && body.length > 0) {
    headers["content-type"] = "application/json";
  }
  headers["content-length"] = String(body.length);
  res.writeHead(result.statusCode, headers);
  res.end(body);
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
