/**
 * API Gateway HTTP API (payload format 2.0) events as AWS sends them to the function.
 * `HTTP_API_V2_EVENT` is a complete captured-shape event for the guide's curl example;
 * `httpEvent()` derives others from it the way API Gateway would fill them in.
 */
import type { HttpApiEvent } from "../../lib/api/http";
import { API_ROUTES } from "../../lib/api/routes";

export const SOURCE_IP = "203.0.113.10";

/** The guide's `curl -X POST https://api.example.com/flows/etl_pipeline/runs ...`, IAM-authorized. */
export const HTTP_API_V2_EVENT: HttpApiEvent = {
  version: "2.0",
  routeKey: "POST /flows/{flowName}/runs",
  rawPath: "/flows/etl_pipeline/runs",
  rawQueryString: "",
  headers: {
    accept: "*/*",
    "content-length": "105",
    "content-type": "application/json",
    host: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "user-agent": "curl/8.5.0",
    "x-amz-date": "20240314T090000Z",
    "x-amzn-trace-id": "Root=1-65f2bc10-0b6d4a1c2e3f4a5b6c7d8e9f",
    "x-forwarded-for": SOURCE_IP,
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
  },
  requestContext: {
    accountId: "123456789012",
    apiId: "a1b2c3d4e5",
    authorizer: {
      iam: {
        accessKey: "AKIAIOSFODNN7EXAMPLE",
        accountId: "123456789012",
        callerId: "AIDACKCEVSQ6C2EXAMPLE",
        principalOrgId: null,
        userArn: "arn:aws:iam::123456789012:user/dashboard",
        userId: "AIDACKCEVSQ6C2EXAMPLE",
      },
    },
    domainName: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    http: {
      method: "POST",
      path: "/flows/etl_pipeline/runs",
      protocol: "HTTP/1.1",
      sourceIp: SOURCE_IP,
      userAgent: "curl/8.5.0",
    },
    requestId: "UaZ6bhJ9oAMEJHw=",
    routeKey: "POST /flows/{flowName}/runs",
    stage: "$default",
    time: "14/Mar/2024:09:00:00 +0000",
    timeEpoch: 1710406800000,
  },
  pathParameters: { flowName: "etl_pipeline" },
  body: JSON.stringify({
    org_id: "acme-corp",
    parameters: { date: "2024-03-14", source: "s3://bucket/input.csv" },
  }),
  isBase64Encoded: false,
};

export interface EventOptions {
  /** An object is sent as JSON; a string is sent as is. */
  readonly body?: unknown;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** JWT authorizer claims instead of the IAM authorizer. */
  readonly claims?: Record<string, string>;
  readonly base64?: boolean;
}

function routeFor(
  method: string,
  path: string,
): { routeKey: string; params?: Record<string, string> } {
  const segments = path.split("/").filter(Boolean);
  for (const route of API_ROUTES) {
    if (route.method !== method) continue;
    const parts = route.path.split("/").filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const ok = parts.every((part, i) => {
      const segment = segments[i] as string;
      if (part.startsWith("{")) {
        params[part.slice(1, -1)] = decodeURIComponent(segment);
        return true;
      }
      return part === segment;
    });
    if (ok)
      return {
        routeKey: `${method} ${route.path}`,
        ...(Object.keys(params).length ? { params } : {}),
      };
  }
  return { routeKey: "$default" };
}

/** An event for `method path`, as API Gateway builds it. */
export function httpEvent(method: string, path: string, options: EventOptions = {}): HttpApiEvent {
  const { routeKey, params } = routeFor(method, path);
  const query = options.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    if (options.base64) body = Buffer.from(body, "utf8").toString("base64");
  }
  const base = HTTP_API_V2_EVENT;
  const event: HttpApiEvent = {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString,
    headers: {
      ...base.headers,
      ...(body !== undefined ? { "content-length": String(body.length) } : {}),
      ...Object.fromEntries(
        Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      ),
    },
    // API Gateway omits these keys entirely when there is nothing to put in them.
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(params ? { pathParameters: params } : {}),
    requestContext: {
      ...base.requestContext,
      authorizer: options.claims
        ? {
            jwt: {
              claims: { sub: "user-1", iss: "https://issuer.example.com", ...options.claims },
              scopes: null,
            },
          }
        : base.requestContext.authorizer,
      http: { ...base.requestContext.http, method, path },
      routeKey,
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: options.base64 ?? false,
  };
  return event;
}
