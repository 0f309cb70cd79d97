/**
 * The HTTP API's routes, in one place: the API construct creates exactly these and the API
 * handler serves them. CDK-free so handlers and tests can import it.
 */
export const API_ROUTES = [
  { method: "POST", path: "/flows/{flowName}/runs" },
  { method: "GET", path: "/runs/{runId}" },
  { method: "GET", path: "/runs" },
  { method: "POST", path: "/runs/{runId}/cancel" },
  { method: "POST", path: "/runs/batch" },
  { method: "GET", path: "/flows" },
  { method: "GET", path: "/flows/{flowName}/versions" },
  { method: "GET", path: "/schedules" },
  { method: "POST", path: "/schedules" },
  { method: "DELETE", path: "/schedules/{name}" },
] as const;

export type ApiRoute = (typeof API_ROUTES)[number];
/** `"POST /flows/{flowName}/runs"`: API Gateway's route key. */
export type ApiRouteKey = `${ApiRoute["method"]} ${ApiRoute["path"]}`;

export function routeKey(route: ApiRoute): ApiRouteKey {
  return `${route.method} ${route.path}`;
}
