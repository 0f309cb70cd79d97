/**
 * The HTTP API's routes, in one place: the API construct (lib/infra) creates exactly these and
 * integrates each with the function named by `fn`; the handlers serve them. CDK-free so
 * handlers and tests import it. Literal paths come before parameterized ones (`/runs/batch`
 * before `/runs/{runId}`).
 *
 * Two functions: `registration` serves what needs the S3 presigner and the archive checks
 * (uploading and committing flow versions and dependency packages, and listing packages);
 * `api` serves everything else, so the function behind launches, run status, schedules and
 * logs stays small and starts fast.
 */
export const API_FUNCTIONS = ["api", "registration"] as const;
export type ApiFunction = (typeof API_FUNCTIONS)[number];

export const API_ROUTES = [
  { name: "launchRun", method: "POST", path: "/flows/{flowName}/runs", fn: "api" },
  { name: "listFlows", method: "GET", path: "/flows", fn: "api" },
  { name: "listFlowVersions", method: "GET", path: "/flows/{flowName}/versions", fn: "api" },
  {
    name: "commitFlowVersion",
    method: "POST",
    path: "/flows/{flowName}/versions",
    fn: "registration",
  },
  {
    name: "createFlowUpload",
    method: "POST",
    path: "/flows/{flowName}/versions/uploads",
    fn: "registration",
  },
  {
    name: "getFlowVersion",
    method: "GET",
    path: "/flows/{flowName}/versions/{version}",
    fn: "api",
  },
  { name: "listRuns", method: "GET", path: "/runs", fn: "api" },
  { name: "launchBatch", method: "POST", path: "/runs/batch", fn: "api" },
  { name: "getRun", method: "GET", path: "/runs/{runId}", fn: "api" },
  { name: "cancelRun", method: "POST", path: "/runs/{runId}/cancel", fn: "api" },
  { name: "rerunRun", method: "POST", path: "/runs/{runId}/rerun", fn: "api" },
  { name: "getRunLogs", method: "GET", path: "/runs/{runId}/logs", fn: "api" },
  { name: "getRunTraceback", method: "GET", path: "/runs/{runId}/traceback", fn: "api" },
  { name: "listSchedules", method: "GET", path: "/schedules", fn: "api" },
  { name: "putSchedule", method: "POST", path: "/schedules", fn: "api" },
  { name: "deleteSchedule", method: "DELETE", path: "/schedules/{name}", fn: "api" },
  { name: "listPackages", method: "GET", path: "/dep-packages", fn: "registration" },
  { name: "commitPackage", method: "POST", path: "/dep-packages", fn: "registration" },
  {
    name: "createPackageUpload",
    method: "POST",
    path: "/dep-packages/uploads",
    fn: "registration",
  },
  { name: "listDeployments", method: "GET", path: "/deployments", fn: "api" },
  { name: "putDeployment", method: "PUT", path: "/deployments/{name}", fn: "api" },
] as const;

export type ApiRoute = (typeof API_ROUTES)[number];
export type RouteName = ApiRoute["name"];
/** The routes one function serves. */
export type RouteOf<F extends ApiFunction> = Extract<ApiRoute, { fn: F }>;
export type RouteNameOf<F extends ApiFunction> = RouteOf<F>["name"];

export function routesOf<F extends ApiFunction>(fn: F): readonly RouteOf<F>[] {
  return API_ROUTES.filter((route): route is RouteOf<F> => route.fn === fn);
}
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
