/**
 * `dagy console`: the run console for any target — the local platform, a `--url`, or a deployed
 * stack (`--outputs cdk-outputs.json`) — served on 127.0.0.1. The browser talks only to this
 * process, which forwards each API call through the transport every other command uses for that
 * target: SigV4-signed with the user's AWS credentials (IAM mode) or with their bearer token
 * (JWT mode). Credentials and tokens never reach the browser.
 *
 * Because forwarded calls carry the user's authority, the proxy accepts them only from its own
 * pages: the Host must be this listener (no DNS rebinding), a request with an Origin must come
 * from it, and state changes must be `application/json` (which a cross-site form cannot send
 * without a CORS preflight, and this server answers no preflight).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createConsoleHandler } from "../console/server";
import { ConfigurationError } from "../errors";
import type { ApiRequest, ApiTransport } from "./api-client";
import { parseCommandArgs } from "./args";
import { EXIT, UsageError, type CliCommand } from "./io";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";
import { describeTarget, parsePort } from "./target";

export const DEFAULT_CONSOLE_PORT = 8788;
/** The API's own payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

const usage = `Usage: dagy console [options]

Serves the run console on http://127.0.0.1:<console-port>/console/ and forwards its API
calls to the target: for a deployed stack, signed with your AWS credentials (SigV4) or sent
with your token (--token, JWT mode). The browser never sees either.

Options:
      --console-port <port>  Where the console listens (default ${DEFAULT_CONSOLE_PORT}; 0 = any free port).
${COMMON_USAGE}`;

export interface ConsoleProxyOptions {
  readonly transport: ApiTransport;
  readonly defaultOrg?: string;
  /** Default ${DEFAULT_CONSOLE_PORT}; 0 picks a free port. Always on 127.0.0.1. */
  readonly port?: number;
  readonly onError?: (error: unknown) => void;
}

export interface ConsoleProxy {
  /** e.g. `http://127.0.0.1:8788`. */
  readonly url: string;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Why a request may not be forwarded, or undefined when it may. */
export function refusal(req: IncomingMessage, ownHosts: readonly string[]): string | undefined {
  const host = req.headers.host ?? "";
  if (!ownHosts.includes(host)) return `Host ${host || "(none)"} is not this console`;
  const origin = req.headers.origin;
  if (origin !== undefined && !ownHosts.some((h) => origin === `http://${h}`)) {
    return `Origin ${origin} may not call this console's API`;
  }
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") return "State changes must be sent as application/json";
  }
  return undefined;
}

async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  transport: ApiTransport,
): Promise<void> {
  const method = (req.method ?? "GET").toUpperCase();
  if (method !== "GET" && method !== "POST" && method !== "DELETE") {
    reply(res, 405, { error: `Method ${method} is not forwarded` });
    return;
  }
  const url = new URL(req.url ?? "/", "http://console.invalid");
  const raw = await readBody(req);
  if (raw === undefined) {
    reply(res, 413, { error: `Request body exceeds ${MAX_BODY_BYTES} bytes` });
    return;
  }
  let body: Record<string, unknown> | undefined;
  if (raw.length > 0) {
    try {
      const parsed: unknown = JSON.parse(raw.toString("utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        reply(res, 400, { error: "Request body must be a JSON object" });
        return;
      }
      body = parsed as Record<string, unknown>;
    } catch {
      reply(res, 400, { error: "Request body is not valid JSON" });
      return;
    }
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const request: ApiRequest = {
    method,
    path: url.pathname,
    query,
    ...(body !== undefined ? { body } : {}),
  };
  const answer = await transport(request);
  reply(res, answer.status, answer.body ?? {});
}

export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  const serveConsole = createConsoleHandler({
    ...(options.defaultOrg !== undefined ? { defaultOrg: options.defaultOrg } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  let ownHosts: string[] = [];
  const server = createServer((req, res) => {
    const why = refusal(req, ownHosts);
    if (why !== undefined) {
      reply(res, 403, { error: why });
      return;
    }
    if (serveConsole(req, res)) return;
    forward(req, res, options.transport).catch((error: unknown) => {
      options.onError?.(error);
      // The transport's own message (e.g. "cannot reach the Dagy API at ..."), never a stack.
      if (!res.headersSent) reply(res, 502, { error: (error as Error).message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  ownHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export const command: CliCommand = {
  name: "console",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "console", usage }, args, io, {
      ...COMMON_OPTIONS,
      "console-port": { type: "string" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument: ${positionals.join(" ")}`, "console");
    }
    const port =
      values["console-port"] === undefined
        ? DEFAULT_CONSOLE_PORT
        : parsePort(values["console-port"], "--console-port");
    const target = targetOf(values, io);
    const client = await apiClientFor(target);
    let proxy: ConsoleProxy;
    try {
      proxy = await startConsoleProxy({
        transport: client.transport,
        defaultOrg: orgOf(values, io),
        port,
        onError: (error) => io.stderr(`console: ${(error as Error).message}\n`),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new ConfigurationError(
          `port ${port} on 127.0.0.1 is in use; choose another with --console-port <n>`,
        );
      }
      throw error;
    }
    io.stdout(
      `Dagy console for ${describeTarget(target)}\n  open ${proxy.url}/console/\nCtrl-C stops it.\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = io.onInterrupt?.(() => {
        stop?.();
        resolve();
      });
    });
    await proxy.close();
    return EXIT.ok;
  },
};
