/**
 * Path routing over the request's own path, so the API answers the same whether API Gateway
 * routes each path to the function or sends everything through `$default` / `{proxy+}`.
 */
import { MethodNotAllowedError, NotFoundError } from "../errors";

export { MethodNotAllowedError } from "../errors";

export interface Route<Name extends string> {
  readonly name: Name;
  readonly method: string;
  /** e.g. `/runs/{runId}/cancel`. */
  readonly path: string;
}

export interface RouteMatch<Name extends string> {
  readonly name: Name;
  readonly params: Record<string, string>;
}

function splitPath(path: string): string[] {
  return path.split("/").filter((s) => s.length > 0);
}

function matchPath(template: string, segments: readonly string[]): Record<string, string> | null {
  const parts = splitPath(template);
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const segment = segments[i] as string;
    if (part.startsWith("{") && part.endsWith("}")) {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        return null;
      }
      params[part.slice(1, -1)] = value;
    } else if (part !== segment) {
      return null;
    }
  }
  return params;
}

/**
 * Finds the route for a method and path. Literal routes listed first win over parameterized
 * ones (`/runs/batch` before `/runs/{runId}`). An unknown path is a 404; a known path with
 * another method is a 405 naming the allowed methods.
 */
export function matchRoute<Name extends string>(
  routes: readonly Route<Name>[],
  method: string,
  path: string,
): RouteMatch<Name> {
  const segments = splitPath(path);
  const allowed = new Set<string>();
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (params === null) continue;
    if (route.method === method.toUpperCase()) return { name: route.name, params };
    allowed.add(route.method);
  }
  if (allowed.size > 0) throw new MethodNotAllowedError(method, path, [...allowed]);
  throw new NotFoundError(`No route for ${method} ${path}`);
}

/** The request path without the stage prefix API Gateway adds for named (non-`$default`) stages. */
export function pathWithoutStage(rawPath: string, stage: string | undefined): string {
  if (stage === undefined || stage === "$default") return rawPath;
  const prefix = `/${stage}`;
  if (rawPath === prefix) return "/";
  return rawPath.startsWith(`${prefix}/`) ? rawPath.slice(prefix.length) : rawPath;
}
