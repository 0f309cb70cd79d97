/**
 * The HTTP API's routes, in one place: the API construct (lib/infra) creates exactly these and
 * the API handler serves them. CDK-free so handlers and tests import it. Literal paths come
 * before parameterized ones (`/runs/batch` before `/runs/{runId}`).
 */
export const API_ROUTES = [
  { name: "launchRun", method: "POST", path: "/flows/{flowName}/runs" },
  { name: "listFlows", method: "GET", path: "/flows" },
  { name: "listFlowVersions", method: "GET", path: "/flows/{flowName}/versions" },
  { name: "commitFlowVersion", method: "POST", path: "/flows/{flowName}/versions" },
  { name: "createFlowUpload", method: "POST", path: "/flows/{flowName}/versions/uploads" },
  { name: "getFlowVersion", method: "GET", path: "/flows/{flowName}/versions/{version}" },
  { name: "listRuns", method: "GET", path: "/runs" },
  { name: "launchBatch", method: "POST", path: "/runs/batch" },
  { name: "getRun", method: "GET", path: "/runs/{runId}" },
  { name: "cancelRun", method: "POST", path: "/runs/{runId}/cancel" },
  { name: "rerunRun", method: "POST", path: "/runs/{runId}/rerun" },
  { name: "getRunLogs", method: "GET", path: "/runs/{runId}/logs" },
  { name: "getRunTraceback", method: "GET", path: "/runs/{runId}/traceback" },
  { name: "listSchedules", method: "GET", path: "/schedules" },
  { name: "putSchedule", method: "POST", path: "/schedules" },
  { name: "deleteSchedule", method: "DELETE", path: "/schedules/{name}" },
  { name: "listPackages", method: "GET", path: "/dep-packages" },
  { name: "commitPackage", method: "POST", path: "/dep-packages" },
  { name: "createPackageUpload", method: "POST", path: "/dep-packages/uploads" },
  { name: "listDeployments", method: "GET", path: "/deployments" },
  { name: "putDeployment", method: "PUT", path: "/deployments/{name}" },
] as const;

export type ApiRoute = (typeof API_ROUTES)[number];
export type RouteName = ApiRoute["name"];
/** `"POST /flows/{flowName}/runs"`: API Gateway's route key. */
export type ApiRouteKey = `${ApiRoute["method"]} ${ApiRoute["path"]}`;

export function routeKey(route: Pick<ApiRoute, "method" | "path">): ApiRouteKey {
  return `${route.method} ${route.path}`;
}

/**
 * The routes a parent run's worker calls for an isolated map's children (lib/worker/isolated-map.ts):
 * the stack grants its task role `execute-api:Invoke` on exactly these, and the API refuses the
 * worker anything else (lib/services/caller.ts).
 */
export const WORKER_ROUTE_NAMES = [
  "launchBatch",
  "cancelRun",
] as const satisfies readonly RouteName[];

export function workerRoutes(): ApiRoute[] {
  return API_ROUTES.filter((route) =>
    (WORKER_ROUTE_NAMES as readonly RouteName[]).includes(route.name),
  );
}
