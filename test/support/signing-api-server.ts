/**
 * A stand-in for API Gateway in front of the `api` Lambda, as a deployed stack has it: a
 * node:http server on 127.0.0.1 that authenticates each request the way the stack's authorizer
 * does, refuses what API Gateway refuses (403 with its `{"message": ...}` bodies), and hands the
 * rest to the handler as an HTTP API payload 2.0 event whose `requestContext.authorizer` holds
 * the caller.
 *
 * - `iam`: verifies the AWS Signature Version 4 (`execute-api`, the server's region) by signing
 *   the same canonical request again with the caller's secret key and comparing; the payload
 *   hash is computed from the bytes received, so a changed body fails; a request dated more than
 *   15 minutes from now is expired.
 * - `jwt`: accepts exactly the tokens it was given, each with its claims.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";
import type { HttpApiEvent, HttpResponse } from "../../lib/api/http";
import { NodeSha256, EXECUTE_API_SERVICE } from "../../lib/aws/sigv4";
import { toHttpApiEvent } from "../../lib/local/http-server";

export interface TestCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** The IAM user or role the key belongs to. Default `arn:aws:iam::<account>:user/flow-author`. */
  readonly userArn?: string;
}

export type SigningServerAuth =
  | { readonly mode: "iam"; readonly region: string; readonly keys: readonly TestCredentials[] }
  | {
      readonly mode: "jwt";
      /** token -> its claims */
      readonly tokens: Readonly<Record<string, Readonly<Record<string, string>>>>;
    };

export interface SigningApiServerOptions {
  readonly auth: SigningServerAuth;
  readonly handler: (event: HttpApiEvent) => Promise<HttpResponse>;
  readonly accountId?: string;
}

export interface SigningApiServer {
  readonly url: string;
  /** Every request the server answered, and how. */
  readonly requests: { method: string; path: string; status: number; refused?: string }[];
  close(): Promise<void>;
}

const MAX_SKEW_MS = 15 * 60 * 1000;
const FORBIDDEN = "Forbidden";
const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. " +
  "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN = "The security token included in the request is invalid.";

class Refusal extends Error {
  constructor(
    message: string,
    readonly status = 403,
  ) {
    super(message);
  }
}

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function parseAuthorization(value: string | undefined): ParsedAuthorization {
  const match =
    value === undefined
      ? null
      : /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
          value,
        );
  if (match === null) throw new Refusal(FORBIDDEN);
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(";"),
    signature,
  };
}

/** `20261201T033000Z` -> Date */
function parseAmzDate(value: string | undefined): Date {
  const match =
    value === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) throw new Refusal(FORBIDDEN);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  return new Date(
    Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1, hour ?? 0, minute ?? 0, second ?? 0),
  );
}

async function verifySignature(
  req: IncomingMessage,
  body: Buffer,
  auth: Extract<SigningServerAuth, { mode: "iam" }>,
): Promise<TestCredentials> {
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(",") : value;
  };
  const parsed = parseAuthorization(header("authorization"));
  const key = auth.keys.find((k) => k.accessKeyId === parsed.accessKeyId);
  if (key === undefined) throw new Refusal(INVALID_TOKEN);
  if (parsed.service !== EXECUTE_API_SERVICE || parsed.region !== auth.region) {
    throw new Refusal(
      `Credential should be scoped to a valid region and service ('${auth.region}', '${EXECUTE_API_SERVICE}').`,
    );
  }
  const signingDate = parseAmzDate(header("x-amz-date"));
  if (Math.abs(Date.now() - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new Refusal("Signature expired: the request is dated more than 15 minutes from now.");
  }
  for (const required of ["host", "x-amz-date"]) {
    if (!parsed.signedHeaders.includes(required)) throw new Refusal(SIGNATURE_MISMATCH);
  }
  if (key.sessionToken !== undefined && header("x-amz-security-token") !== key.sessionToken) {
    throw new Refusal(INVALID_TOKEN);
  }
  // The payload hash is ours to compute: a client's x-amz-content-sha256 must match the bytes.
  const payloadHash = createHash("sha256").update(body).digest("hex");
  const claimedHash = header("x-amz-content-sha256");
  if (claimedHash !== undefined && claimedHash !== payloadHash) {
    throw new Refusal(SIGNATURE_MISMATCH);
  }

  const headers: Record<string, string> = {};
  for (const name of parsed.signedHeaders) {
    const value = header(name);
    if (value === undefined) throw new Refusal(SIGNATURE_MISMATCH);
    headers[name] = value;
  }
  const target = req.url ?? "/";
  const queryIndex = target.indexOf("?");
  const path = queryIndex === -1 ? target : target.slice(0, queryIndex);
  const query: Record<string, string> = {};
  if (queryIndex !== -1) {
    for (const [name, value] of new URLSearchParams(target.slice(queryIndex + 1))) {
      query[name] = value;
    }
  }
  // The headers the client signed, as received (a changed one changes the signature); the
  // payload hash, when signed, was checked against the bytes above, else it is computed.
  const signer = new SignatureV4({
    service: EXECUTE_API_SERVICE,
    region: auth.region,
    credentials: key,
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    {
      method: req.method ?? "GET",
      protocol: "http:",
      hostname: (headers.host ?? "").split(":")[0] ?? "",
      path,
      query,
      headers,
      body,
    },
    { signingDate },
  );
  const recomputed = /Signature=([0-9a-f]{64})$/.exec(expected.headers.authorization ?? "")?.[1];
  if (
    recomputed === undefined ||
    !timingSafeEqual(Buffer.from(recomputed), Buffer.from(parsed.signature))
  ) {
    throw new Refusal(SIGNATURE_MISMATCH);
  }
  return key;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string>) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body);
}

export async function startSigningApiServer(
  options: SigningApiServerOptions,
): Promise<SigningApiServer> {
  const accountId = options.accountId ?? "123456789012";
  const requests: SigningApiServer["requests"] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const base = toHttpApiEvent({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      rawHeaders: req.rawHeaders,
      body,
      sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
      httpVersion: req.httpVersion,
      host: req.headers.host ?? "127.0.0.1",
    });
    let authorizer: NonNullable<HttpApiEvent["requestContext"]["authorizer"]>;
    try {
      if (options.auth.mode === "iam") {
        const key = await verifySignature(req, body, options.auth);
        const userArn = key.userArn ?? `arn:aws:iam::${accountId}:user/flow-author`;
        authorizer = {
          iam: {
            accessKey: key.accessKeyId,
            accountId,
            callerId: "AIDATESTFLOWAUTHOR",
            principalOrgId: null,
            userArn,
            userId: "AIDATESTFLOWAUTHOR",
          },
        };
      } else {
        const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
        const claims = match === null ? undefined : options.auth.tokens[match[1] as string];
        if (claims === undefined) throw new Refusal("Unauthorized", 401);
        authorizer = { jwt: { claims, scopes: null } };
      }
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      requests.push({
        method: base.requestContext.http.method,
        path: base.rawPath,
        status: error.status,
        refused: error.message,
      });
      reply(res, error.status, JSON.stringify({ message: error.message }), {});
      return;
    }
    const event: HttpApiEvent = {
      ...base,
      requestContext: { ...base.requestContext, accountId, apiId: "testapi", authorizer },
    };
    const response = await options.handler(event);
    requests.push({
      method: base.requestContext.http.method,
      path: base.rawPath,
      status: response.statusCode,
    });
    reply(res, response.statusCode, response.body, response.headers);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      reply(res, 500, JSON.stringify({ message: String(error) }), {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
