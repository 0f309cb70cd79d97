import { request } from "node:http";
import {
  startHttpApiServer,
  type HttpApiEvent,
  type HttpApiResult,
  type HttpApiServer,
} from "../../lib/local/http-server";

/** Sends a raw request (fetch would normalise headers we want to see repeated). */
function send(
  server: HttpApiServer,
  method: string,
  path: string,
  headers: Array<[string, string]>,
  body?: Buffer,
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    for (const [name, value] of headers) req.appendHeader(name, value);
    req.on("error", reject);
    req.end(body);
  });
}

describe("local HTTP front door (API Gateway v2 events)", () => {
  let server: HttpApiServer;
  let seen: HttpApiEvent[] = [];
  let reply: (event: HttpApiEvent) => Promise<HttpApiResult> = () =>
    Promise.resolve({
      statusCode: 200,
      headers: { "content-type": "application/json" },
      body: "{}",
    });

  beforeAll(async () => {
    server = await startHttpApiServer({
      port: 0,
      handler: (event) => {
        seen.push(event);
        return reply(event);
      },
    });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    seen = [];
  });

  it("hands the handler the request as API Gateway would: path, query, lower-cased headers, body", async () => {
    const body = Buffer.from(JSON.stringify({ org_id: "acme-corp" }));
    await send(
      server,
      "POST",
      "/flows/etl_pipeline/runs?org_id=acme-corp&tag=a&tag=b",
      [
        ["Content-Type", "application/json"],
        ["X-Trace", "one"],
        ["X-Trace", "two"],
        ["Cookie", "a=1; b=2"],
      ],
      body,
    );
    const event = seen[0]!;
    expect(event).toMatchObject({
      version: "2.0",
      rawPath: "/flows/etl_pipeline/runs",
      rawQueryString: "org_id=acme-corp&tag=a&tag=b",
      queryStringParameters: { org_id: "acme-corp", tag: "a,b" },
      cookies: ["a=1", "b=2"],
      body: '{"org_id":"acme-corp"}',
      isBase64Encoded: false,
      requestContext: {
        http: { method: "POST", path: "/flows/etl_pipeline/runs", sourceIp: "127.0.0.1" },
      },
    });
    expect(event.headers["content-type"]).toBe("application/json");
    expect(event.headers["x-trace"]).toBe("one,two");
    expect(event.headers.cookie).toBeUndefined();
  });

  it("base64-encodes binary bodies and decodes base64 replies", async () => {
    const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0xff, 0x00]);
    reply = () =>
      Promise.resolve({
        statusCode: 201,
        headers: { "Content-Type": "application/zip" },
        body: zip.toString("base64"),
        isBase64Encoded: true,
        cookies: ["session=1"],
      });
    const res = await send(server, "PUT", "/upload", [["content-type", "application/zip"]], zip);
    expect(seen[0]!.isBase64Encoded).toBe(true);
    expect(Buffer.from(seen[0]!.body!, "base64")).toEqual(zip);
    expect(res.status).toBe(201);
    expect(res.headers["content-type"]).toBe("application/zip");
    expect(res.headers["set-cookie"]).toEqual(["session=1"]);
    expect(res.body).toEqual(zip);
  });

  it("answers 500 without details when the handler throws", async () => {
    reply = () => Promise.reject(new Error("secret stack detail"));
    const res = await send(server, "GET", "/runs", []);
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString())).toEqual({ error: "Internal server error" });
  });

  it("refuses bodies beyond API Gateway's 10 MB with a 413 before the handler runs", async () => {
    const res = await send(
      server,
      "POST",
      "/runs/batch",
      [["content-type", "application/json"]],
      Buffer.alloc(10 * 1024 * 1024 + 1, 32),
    );
    expect(res.status).toBe(413);
    expect(seen).toHaveLength(0);
  });
});
