/**
 * The API Gateway HTTP API (payload format 2.0) event and the Lambda proxy reply, typed here
 * with only the fields Dagy reads, so the handler needs no `@types/aws-lambda`.
 */
import { ValidationError } from "../errors";
import {
  controlCharacterMessage,
  findControlCharacter,
  findControlCharacterInJson,
} from "../sdk/text";

export interface HttpApiJwtAuthorizer {
  readonly claims: Readonly<Record<string, string | number | boolean | string[] | undefined>>;
  readonly scopes?: readonly string[] | null;
}

export interface HttpApiIamAuthorizer {
  readonly accessKey?: string;
  readonly accountId?: string;
  readonly callerId?: string;
  readonly principalOrgId?: string | null;
  readonly userArn?: string;
  readonly userId?: string;
}

export interface HttpApiEvent {
  readonly version: string;
  readonly routeKey: string;
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly cookies?: readonly string[];
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>>;
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  readonly stageVariables?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded: boolean;
  readonly requestContext: {
    readonly accountId?: string;
    readonly apiId?: string;
    readonly domainName?: string;
    readonly requestId?: string;
    readonly routeKey?: string;
    readonly stage?: string;
    readonly time?: string;
    readonly timeEpoch?: number;
    readonly http: {
      readonly method: string;
      readonly path: string;
      readonly protocol?: string;
      readonly sourceIp: string;
      readonly userAgent?: string;
    };
    readonly authorizer?: {
      readonly jwt?: HttpApiJwtAuthorizer;
      readonly iam?: HttpApiIamAuthorizer;
    };
  };
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export type JsonBody = Record<string, unknown>;

export function jsonResponse(
  statusCode: number,
  body: JsonBody,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

/** Header lookup; API Gateway lower-cases header names in payload 2.0, clients may not. */
export function header(event: HttpApiEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * The request body as JSON. An absent or blank body is `undefined`; anything that is not a JSON
 * object is a 400 naming the problem (never a 500).
 */
export function parseJsonBody(event: HttpApiEvent): unknown {
  if (event.body === undefined || event.body === null) return undefined;
  const text = event.isBase64Encoded
    ? Buffer.from(event.body, "base64").toString("utf8")
    : event.body;
  if (text.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ValidationError(`body: malformed JSON (${detail})`, "body");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError("body: must be a JSON object", "body");
  }
  // No field of any body carries control characters: keys none, strings none but tab and line
  // breaks (text such as descriptions and parameter values). Ids and names are then checked
  // strictly by their own schemas.
  const hit = findControlCharacterInJson(parsed, "whitespace");
  if (hit) {
    const field = hit.path.join(".") || "body";
    throw new ValidationError(
      hit.inKey
        ? `${field}: keys ${controlCharacterMessage(hit.found, "none")}`
        : `${field}: ${controlCharacterMessage(hit.found, "whitespace")}`,
      field,
    );
  }
  return parsed;
}

/** Path and query values hold no control character at all (ids, names, tokens). */
export function refuseControlCharacters(
  values: Readonly<Record<string, string>>,
  where: string,
): void {
  for (const [name, value] of Object.entries(values)) {
    const found = findControlCharacter(name) ?? findControlCharacter(value);
    if (found !== undefined) {
      throw new ValidationError(
        `${name}: ${controlCharacterMessage(found, "none")} (${where})`,
        name,
      );
    }
  }
}

/** Query parameters, with the empty strings API Gateway sends for `?a=` treated as absent. */
export function queryParams(event: HttpApiEvent): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined && value !== "") result[key] = value;
  }
  refuseControlCharacters(result, "query");
  return result;
}
