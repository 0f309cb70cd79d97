/**
 * The API Gateway HTTP API (payload format 2.0) mapping: a request becomes the v2 event the
 * `api` Lambda receives in AWS (`toHttpApiEvent`), and the handler's structured result becomes
 * the HTTP response (`writeHttpApiResult`), with API Gateway's conventions for headers, cookies,
 * query strings and base64 bodies.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";

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
