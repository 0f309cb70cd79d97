/**
 * Serves the console under `/console/` from any node:http server: the local platform's and
 * `dagy console`'s. Static files only; the browser code talks to the HTTP API on the same origin.
 * Every page path (`/console/runs/<id>`, ...) answers the same index.html, so links can be shared.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { consoleBundle, type ConsoleBundle } from "./build";

export const CONSOLE_PATH = "/console";

export interface ConsoleHandlerOptions {
  /** Org the console shows until the user picks another. */
  readonly defaultOrg?: string;
  /** Default: the process's shared bundle, built on first request. */
  readonly bundle?: () => Promise<ConsoleBundle>;
  /** Called when the bundle cannot be built (the browser gets a 500 naming no internals). */
  readonly onError?: (error: unknown) => void;
}

/** Serves a request for `/console…`; false for any other path (the caller handles it). */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function indexHtml(bundle: ConsoleBundle, defaultOrg: string | undefined): string {
  const v = bundle.version;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="dagy-org" content="${escapeHtml(defaultOrg ?? "")}">
<title>Dagy console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${CONSOLE_PATH}/assets/app.css?v=${v}">
<script src="${CONSOLE_PATH}/assets/app.js?v=${v}" defer></script>
</head>
<body>
<div id="app"></div>
<noscript>The Dagy console needs JavaScript.</noscript>
</body>
</html>
`;
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: Buffer,
  headers: Record<string, string>,
  gzip?: Buffer,
): void {
  const useGzip = gzip !== undefined && /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
  const payload = useGzip ? gzip : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    ...(gzip !== undefined ? { vary: "accept-encoding" } : {}),
    ...(useGzip ? { "content-encoding": "gzip" } : {}),
    "content-length": String(payload.length),
  });
  res.end(req.method === "HEAD" ? undefined : payload);
}

export function createConsoleHandler(options: ConsoleHandlerOptions = {}): ConsoleHandler {
  const load = options.bundle ?? consoleBundle;
  return (req, res) => {
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? url;
    if (path !== CONSOLE_PATH && !path.startsWith(`${CONSOLE_PATH}/`)) return false;
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      send(req, res, 405, Buffer.from("Method not allowed\n"), {
        "content-type": "text/plain; charset=utf-8",
        allow: "GET, HEAD",
      });
      return true;
    }
    if (path === CONSOLE_PATH) {
      res.writeHead(308, { location: `${CONSOLE_PATH}/`, "content-length": "0" });
      res.end();
      return true;
    }
    load().then(
      (bundle) => {
        const assetPrefix = `${CONSOLE_PATH}/assets/`;
        if (path.startsWith(assetPrefix)) {
          const asset = bundle.assets.get(path.slice(assetPrefix.length));
          if (asset === undefined) {
            send(req, res, 404, Buffer.from("Not found\n"), {
              "content-type": "text/plain; charset=utf-8",
            });
            return;
          }
          // Immutable when the URL names this build; otherwise revalidate.
          const current = new URLSearchParams(url.split("?")[1] ?? "").get("v") === bundle.version;
          send(
            req,
            res,
            200,
            asset.body,
            {
              "content-type": asset.contentType,
              "cache-control": current ? "public, max-age=31536000, immutable" : "no-cache",
            },
            asset.gzip,
          );
          return;
        }
        send(req, res, 200, Buffer.from(indexHtml(bundle, options.defaultOrg)), {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-cache",
        });
      },
      (error: unknown) => {
        options.onError?.(error);
        if (res.headersSent) return void res.destroy();
        send(req, res, 500, Buffer.from("The console could not be built; see the server log.\n"), {
          "content-type": "text/plain; charset=utf-8",
        });
      },
    );
    return true;
  };
}
