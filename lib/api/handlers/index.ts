/**
 * One handler per route: parse (schemas.ts), call a service with the caller, shape (shape.ts).
 * No business rule lives here. The handlers are grouped by resource, one file each, and
 * composed per function (routes.ts `fn`): `apiHandlers` for the api function,
 * `registrationHandlers` for the registration function, `createHandlers` for both (the local
 * platform serves every route in one process). Handlers import services as types only, so
 * each function's bundle holds the services its entry point builds and no others.
 */
import { NotFoundError } from "../../errors";
import type { DeploymentsService } from "../../services/deployments";
import type { FlowCatalog } from "../../services/flow-catalog";
import type { FlowsService } from "../../services/flows";
import type { PackagesService } from "../../services/packages";
import type { RunsService } from "../../services/runs";
import type { SchedulesService } from "../../services/schedules";
import type { HandlerDependencies } from "./request";
import type { RouteName, RouteNameOf } from "../routes";
import { deploymentHandlers } from "./deployments";
import { flowReadHandlers, flowRegistrationHandlers } from "./flows";
import { packageHandlers } from "./packages";
import type { Handler, HandlerGroup } from "./request";
import { runHandlers } from "./runs";
import { scheduleHandlers } from "./schedules";

export type { ApiRequest, Handler } from "./request";

/** What the api function's routes call; optional ones answer 404 when a deployment lacks them. */
export interface CoreApiServices {
  readonly runs: RunsService;
  readonly flows?: FlowCatalog;
  readonly schedules?: SchedulesService;
  readonly deployments?: DeploymentsService;
}

/** What the registration function's routes call. */
export interface RegistrationApiServices {
  readonly flows?: FlowsService;
  readonly packages?: PackagesService;
}

/** Every service the API calls (the local platform's one process serves all routes). */
export type ApiServices = CoreApiServices & RegistrationApiServices;

function need<T>(service: T | undefined, what: string): T {
  if (!service) throw new NotFoundError(`${what} are not enabled in this deployment`);
  return service;
}

export function apiHandlers(
  deps: HandlerDependencies<CoreApiServices>,
): HandlerGroup<RouteNameOf<"api">> {
  const services = deps.services;
  return {
    ...runHandlers(deps),
    ...flowReadHandlers(() => need(services.flows, "Flow registrations")),
    ...scheduleHandlers(() => need(services.schedules, "Schedules")),
    ...deploymentHandlers(() => need(services.deployments, "Deployments")),
  };
}

export function registrationHandlers(
  services: RegistrationApiServices,
): HandlerGroup<RouteNameOf<"registration">> {
  return {
    ...flowRegistrationHandlers(() => need(services.flows, "Flow registrations")),
    ...packageHandlers(() => need(services.packages, "Dependency packages")),
  };
}

export function createHandlers(deps: HandlerDependencies<ApiServices>): Record<RouteName, Handler> {
  return { ...apiHandlers(deps), ...registrationHandlers(deps.services) };
}
