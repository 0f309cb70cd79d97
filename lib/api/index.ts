/**
 * The HTTP API edge: routes a request, parses it with one schema per wire format, hands the
 * caller's identity and the parsed input to a service, and shapes the reply. Business rules
 * (which org a caller acts for, what a schedule may hold) live in lib/services; error codes
 * become statuses here and only here (./status.ts). Routes: ./routes.ts.
 */
import { randomUUID } from "node:crypto";
import { DagyError, errorCode, MethodNotAllowedError, RunNotFoundError } from "../errors";
import {
  apiHandlers,
  createHandlers,
  registrationHandlers,
  type ApiServices,
  type CoreApiServices,
  type Handler,
  type RegistrationApiServices,
} from "./handlers";
import {
  jsonResponse,
  refuseControlCharacters,
  type HttpApiEvent,
  type HttpResponse,
} from "./http";
import { matchRoute, pathWithoutStage } from "./router";
import type { Route } from "./router";
import { API_ROUTES, routesOf, type RouteName } from "./routes";
import { httpStatusOf } from "./status";

export type { AuthMode, AuthResolver } from "./auth";
export { createAuthResolver } from "./auth";
export type { ApiServices, CoreApiServices, RegistrationApiServices } from "./handlers";
import type { HandlerDependencies } from "./handlers/request";
export type { HandlerDependencies };
export type { HttpApiEvent, HttpResponse } from "./http";
export { MAX_BATCH_REQUESTS } from "./schemas";

/** `S`: the services the served routes call; every service by default (all routes). */
export type ApiDependencies<S = ApiServices> = HandlerDependencies<S>;

export interface Api {
  handle(event: HttpApiEvent): Promise<HttpResponse>;
}

// The guide's contract, byte for byte: no `code` here.
const RUN_NOT_FOUND_BODY = { error: "Run not found" };

/** Every route, in one process: the local platform and tests. */
export function createApi(deps: ApiDependencies): Api {
  return serve(API_ROUTES, createHandlers(deps), deps);
}

/**
 * The api function: the routes `routes.ts` gives to `api`. Any other route is answered as
 * unknown here (API Gateway sends those to the registration function).
 */
export function createCoreApi(deps: ApiDependencies<CoreApiServices>): Api {
  return serve(routesOf("api"), apiHandlers(deps), deps);
}

/** The registration function: uploading and committing flows and packages, listing packages. */
export function createRegistrationApi(deps: ApiDependencies<RegistrationApiServices>): Api {
  return serve(routesOf("registration"), registrationHandlers(deps.services), deps);
}

function serve<Name extends RouteName>(
  routes: readonly Route<Name>[],
  handlers: Record<Name, Handler>,
  deps: Pick<ApiDependencies<unknown>, "auth" | "logger">,
): Api {
  function errorResponse(error: unknown, event: HttpApiEvent, requestId: string): HttpResponse {
    // The guide's exact 404 body for runs.
    if (error instanceof RunNotFoundError) return jsonResponse(404, RUN_NOT_FOUND_BODY);
    const code = errorCode(error);
    const status = httpStatusOf(code);
    if (status < 500 && error instanceof DagyError) {
      const headers: Record<string, string> =
        error instanceof MethodNotAllowedError ? { allow: error.allowed.join(", ") } : {};
      return jsonResponse(status, { error: error.message, code }, headers);
    }
    deps.logger?.error("request failed", {
      request_id: requestId,
      route: `${event.requestContext.http.method} ${event.rawPath}`,
      error,
    });
    if (error instanceof DagyError && code !== "internal" && code !== "configuration") {
      // Typed operational errors (e.g. 503 no capacity) keep their status and message.
      return jsonResponse(status, { error: error.message, code, request_id: requestId });
    }
    return jsonResponse(500, { error: "Internal error", code: "internal", request_id: requestId });
  }

  return {
    async handle(event: HttpApiEvent): Promise<HttpResponse> {
      const requestId = event.requestContext.requestId ?? randomUUID();
      try {
        const path = pathWithoutStage(
          event.rawPath || event.requestContext.http.path,
          event.requestContext.stage,
        );
        const match = matchRoute(routes, event.requestContext.http.method, path);
        refuseControlCharacters(match.params, "path");
        const caller = deps.auth.callerOf(event);
        return await handlers[match.name]({ event, params: match.params, caller });
      } catch (error) {
        return errorResponse(error, event, requestId);
      }
    },
  };
}
