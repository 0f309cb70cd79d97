/**
 * The guards in front of the local API, which has no authentication and so must not be
 * callable by web pages the developer happens to visit. `checkLocalRequest` runs before the
 * handler:
 *  - `Host` must be an address this server listens on (DNS rebinding: a page on
 *    `evil.example` re-resolved to 127.0.0.1 sends `Host: evil.example:8787`) -> 421;
 *  - `Origin`, when present, must be this server's own origin (browsers send it on every
 *    cross-origin request and on every POST) -> 403;
 *  - a state-changing request (POST, PUT, PATCH, DELETE) that carries a body or a content type
 *    must say `application/json`, which browsers may not send cross-origin without a
 *    preflight -> 415. Preflights get no CORS headers, so they fail.
 * The CLI sends no Origin, JSON bodies with their content type, and bodiless DELETEs: it passes.
 */

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
