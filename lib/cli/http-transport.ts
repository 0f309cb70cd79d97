/**
 * How the CLI reaches a Dagy API: requests and replies, the HTTP transport (plain, or with an
 * authorizer adding SigV4 or bearer headers — see `request-signing.ts`), and the API's errors
 * mapped back to their codes.
 */
import { DagyError, ERROR_CODES, type ErrorCode } from "../errors";

/** A request as the client sends it. */
export interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path with parameters already encoded, e.g. `/runs/abc`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
}

export type ApiTransport = (request: ApiRequest) => Promise<ApiReply>;

/**
 * The platform answered with an error status: the message is the API's own `error` text, the
 * code its stable `code` (`flow_not_found`, `invalid_request`, `conflict`, ...), or, for a reply
 * without one, the code its status stands for.
 */
export class ApiError extends DagyError {
  override readonly code: ErrorCode;
  constructor(
    readonly status: number,
    message: string,
    wireCode?: string,
  ) {
    super(message);
    this.code =
      wireCode !== undefined && (ERROR_CODES as readonly string[]).includes(wireCode)
        ? (wireCode as ErrorCode)
        : (CODE_FOR_STATUS[status] ?? (status >= 500 ? "internal" : "invalid_request"));
    this.coded = wireCode !== undefined;
  }
  /**
   * The reply carried a Dagy `code`. Replies without one come from API Gateway (its IAM or JWT
   * authorizer), a proxy, or the guide's own `{"error":"Run not found"}`.
   */
  readonly coded: boolean;
}

/** For replies without a `code` (API Gateway's own refusals, proxies). */
const CODE_FOR_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "artifact_invalid",
  502: "launch_failed",
  503: "unavailable",
};

/** The platform could not be reached at all. */
export class PlatformUnreachableError extends DagyError {}

/**
 * `?a=1&b=x%20y`: RFC 3986 percent-encoding (spaces as `%20`, never `+`), which SigV4's
 * canonical query and every server read the same way.
 */
export function queryString(query: ApiRequest["query"]): string {
  const pairs = Object.entries(query ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
}

/** A request about to be sent: what a signature covers. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Returns the headers to send: the request's own plus whatever proves the caller. */
export type RequestAuthorizer = (request: OutgoingRequest) => Promise<Record<string, string>>;

/** Sends the caller's token as API Gateway's JWT authorizer expects it. */
export function bearerAuthorizer(token: string): RequestAuthorizer {
  return (request) => Promise.resolve({ ...request.headers, authorization: `Bearer ${token}` });
}

export interface HttpTransportOptions {
  /** Appended to "cannot reach <url> (<reason>)": how to fix it. */
  readonly hint: string;
  /** Adds the headers that prove the caller (signature, token). Default: none. */
  readonly authorize?: RequestAuthorizer;
}

/** HTTP transport over global fetch; connection failures name the URL and how to fix them. */
export function httpTransport(baseUrl: string, options: HttpTransportOptions): ApiTransport {
  return async (request) => {
    const url = new URL(`${baseUrl}${request.path}${queryString(request.query)}`);
    const body = request.body !== undefined ? JSON.stringify(request.body) : undefined;
    let headers: Record<string, string> = {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...Object.fromEntries(
        Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      ),
    };
    if (options.authorize !== undefined) {
      headers = await options.authorize({
        method: request.method,
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    } catch (error) {
      throw unreachable(baseUrl, error, options.hint);
    }
    return { status: response.status, body: await readBody(response) };
  };
}

export function unreachable(
  baseUrl: string,
  error: unknown,
  hint: string,
): PlatformUnreachableError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return new PlatformUnreachableError(`cannot reach ${baseUrl} (${reason}); ${hint}`);
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === "") return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON (a proxy's or S3's error page): keep the text for the message.
    return text;
  }
}

function errorText(body: unknown): string {
  if (body !== null && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.error === "string") return record.error;
    // API Gateway's own refusals: {"message":"Forbidden"}, {"message":"The request signature ..."}
    if (typeof record.message === "string") return record.message;
  }
  if (typeof body === "string" && body !== "") return body.slice(0, 300);
  return "no details";
}

function errorCode(body: unknown): string | undefined {
  if (body !== null && typeof body === "object") {
    const code = (body as Record<string, unknown>).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * What to do about a refusal that came from the API's gateway rather than from Dagy (no
 * `code`): API Gateway's IAM and JWT authorizers answer 403 and 401 themselves.
 */
export function gatewayHint(error: ApiError): string | undefined {
  if (error.coded) return undefined;
  if (error.status === 403) {
    return (
      "the API refused the request: in IAM mode your AWS identity (AWS_PROFILE, SSO, AWS_ACCESS_KEY_ID, ...) " +
      "needs execute-api:Invoke on this API; in JWT mode the token lacks what the authorizer requires"
    );
  }
  if (error.status === 401) {
    return "the API refused the bearer token: pass a valid one with --token or DAGY_TOKEN";
  }
  return undefined;
}

/** The ApiError an error reply stands for. */
export function apiErrorOf(reply: ApiReply): ApiError {
  return new ApiError(reply.status, errorText(reply.body), errorCode(reply.body));
}
