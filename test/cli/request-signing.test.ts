/**
 * The CLI's transports to a deployed API, against a local server that authenticates requests
 * as API Gateway does (test/support/signing-api-server.ts): SigV4 with credentials from the
 * SDK's default chain (here the environment), and bearer tokens.
 */
import { SignatureV4 } from "@smithy/signature-v4";
import type { HttpApiEvent, HttpResponse } from "../../lib/api/http";
import {
  ApiClient,
  ApiError,
  bearerAuthorizer,
  httpTransport,
  type RequestAuthorizer,
} from "../../lib/cli/api-client";
import { NodeSha256 } from "../../lib/aws/sigv4";
import { sigV4Authorizer } from "../../lib/cli/request-signing";
import { startSigningApiServer, type SigningApiServer } from "../support/signing-api-server";

const REGION = "eu-central-1";
const KEY = { accessKeyId: "AKIATESTFLOWAUTHOR01", secretAccessKey: "s3cr3t/key+for=tests" };

/** The handler sees what API Gateway passes on: the request and who sent it. */
async function echo(event: HttpApiEvent): Promise<HttpResponse> {
  return Promise.resolve({
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      path: event.rawPath,
      query: event.queryStringParameters ?? {},
      body: event.body ?? null,
      authorizer: event.requestContext.authorizer ?? null,
    }),
  });
}

interface Echoed {
  path: string;
  query: Record<string, string>;
  body: string | null;
  authorizer: {
    iam?: { accessKey: string; userArn: string; accountId: string };
    jwt?: { claims: Record<string, string> };
  } | null;
}

describe("SigV4-signed requests (IAM mode)", () => {
  let server: SigningApiServer;
  const saved: Record<string, string | undefined> = {};
  const env = {
    AWS_ACCESS_KEY_ID: KEY.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_CONFIG_FILE: "/nonexistent/dagy-test-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/dagy-test-credentials",
  };

  beforeAll(async () => {
    // The SDK's default credential chain reads the process environment.
    for (const [name, value] of Object.entries(env)) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    server = await startSigningApiServer({
      auth: { mode: "iam", region: REGION, keys: [KEY] },
      handler: echo,
    });
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await server.close();
  });

  const client = (authorize?: RequestAuthorizer) =>
    new ApiClient(
      httpTransport(server.url, {
        hint: "test",
        ...(authorize !== undefined ? { authorize } : {}),
      }),
    );

  it("passes a signed request with the caller's identity from the environment's credentials", async () => {
    const api = client(sigV4Authorizer({ region: REGION }));
    const got = await api.send<Echoed>({
      method: "POST",
      path: "/flows/etl%20daily/runs",
      query: { org_id: "acme corp", note: "a+b=c&d", empty: "" },
      body: { org_id: "acme corp", parameters: { city: "Zürich", "odd key": "x/y?z" } },
    });
    expect(got.path).toBe("/flows/etl%20daily/runs");
    expect(got.query).toEqual({ org_id: "acme corp", note: "a+b=c&d", empty: "" });
    expect(JSON.parse(got.body ?? "")).toEqual({
      org_id: "acme corp",
      parameters: { city: "Zürich", "odd key": "x/y?z" },
    });
    expect(got.authorizer?.iam).toMatchObject({
      accessKey: KEY.accessKeyId,
      accountId: "123456789012",
      userArn: "arn:aws:iam::123456789012:user/flow-author",
    });
    const listed = await api.send<Echoed>({ method: "GET", path: "/runs", query: { limit: "5" } });
    expect(listed.query).toEqual({ limit: "5" });
  });

  it("says how to provide credentials when the chain finds none", async () => {
    const api = client(
      sigV4Authorizer({
        region: REGION,
        credentials: () =>
          Promise.reject(new Error("Could not load credentials from any providers")),
      }),
    );
    await expect(api.send({ method: "GET", path: "/runs" })).rejects.toThrow(
      /no AWS credentials to sign the request with \(Could not load credentials from any providers\); set AWS_PROFILE, run `aws sso login`/,
    );
  });

  it("refuses a request without a signature: 403 Forbidden", async () => {
    const error = await client()
      .send({ method: "GET", path: "/runs" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, message: "Forbidden" });
  });

  it("refuses a request signed with the wrong secret key", async () => {
    const api = client(
      sigV4Authorizer({
        region: REGION,
        credentials: () => Promise.resolve({ ...KEY, secretAccessKey: "not-the-secret" }),
      }),
    );
    await expect(api.send({ method: "GET", path: "/runs" })).rejects.toMatchObject({
      status: 403,
      message: expect.stringMatching(/^The request signature we calculated does not match/),
    });
  });

  it("refuses a request whose body changed after signing", async () => {
    const sign = sigV4Authorizer({ region: REGION });
    const tampering: RequestAuthorizer = async (request) => {
      const headers = await sign(request);
      // What reaches the server: the signed headers with another body.
      tampered = { headers, body: request.body?.replace("acme", "evil") ?? "" };
      return headers;
    };
    let tampered: { headers: Record<string, string>; body: string } | undefined;
    await client(tampering).send({ method: "POST", path: "/runs/batch", body: { org_id: "acme" } });
    const response = await fetch(`${server.url}/runs/batch`, {
      method: "POST",
      headers: tampered?.headers ?? {},
      body: tampered?.body ?? "",
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { message: string }).message).toMatch(
      /signature we calculated does not match/,
    );
  });

  it("refuses a signature for another region, an unknown key, or one dated 20 minutes ago", async () => {
    await expect(
      client(sigV4Authorizer({ region: "us-east-1" })).send({ method: "GET", path: "/runs" }),
    ).rejects.toMatchObject({
      status: 403,
      message: expect.stringMatching(/scoped to a valid region/),
    });
    await expect(
      client(
        sigV4Authorizer({
          region: REGION,
          credentials: () =>
            Promise.resolve({ accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" }),
        }),
      ).send({ method: "GET", path: "/runs" }),
    ).rejects.toMatchObject({ status: 403, message: expect.stringMatching(/security token/) });

    const old = new SignatureV4({
      service: "execute-api",
      region: REGION,
      credentials: KEY,
      sha256: NodeSha256,
    });
    const url = new URL(`${server.url}/runs`);
    const signed = await old.sign(
      {
        method: "GET",
        protocol: "http:",
        hostname: url.hostname,
        path: url.pathname,
        headers: { host: url.host },
      },
      { signingDate: new Date(Date.now() - 20 * 60 * 1000) },
    );
    const { host: _host, ...headers } = signed.headers;
    const response = await fetch(url, { headers });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { message: string }).message).toMatch(/Signature expired/);
  });
});

describe("bearer tokens (JWT mode)", () => {
  let server: SigningApiServer;
  beforeAll(async () => {
    server = await startSigningApiServer({
      auth: { mode: "jwt", tokens: { "token-of-acme": { org_id: "acme-corp", sub: "ada" } } },
      handler: echo,
    });
  });
  afterAll(() => server.close());

  it("sends the token; the handler sees its claims, and another token is refused", async () => {
    const ok = new ApiClient(
      httpTransport(server.url, { hint: "test", authorize: bearerAuthorizer("token-of-acme") }),
    );
    const got = await ok.send<Echoed>({ method: "GET", path: "/runs" });
    expect(got.authorizer?.jwt?.claims).toEqual({ org_id: "acme-corp", sub: "ada" });

    const wrong = new ApiClient(
      httpTransport(server.url, { hint: "test", authorize: bearerAuthorizer("forged") }),
    );
    await expect(wrong.send({ method: "GET", path: "/runs" })).rejects.toMatchObject({
      status: 401,
      message: "Unauthorized",
    });
  });
});
