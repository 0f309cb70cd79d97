/**
 * One handler per route: parse (schemas.ts), call a service with the caller, shape (shape.ts).
 * No business rule lives here. The handlers are grouped by resource, one file each.
 */
import { NotFoundError } from "../../errors";
import type {
  DeploymentsService,
  FlowsService,
  PackagesService,
  RunsService,
  SchedulesService,
} from "../../services";
import type { ApiDependencies } from "../index";
import type { RouteName } from "../routes";
import { deploymentHandlers } from "./deployments";
import { flowHandlers } from "./flows";
import { packageHandlers } from "./packages";
import type { Handler } from "./request";
import { runHandlers } from "./runs";
import { scheduleHandlers } from "./schedules";

export type { ApiRequest } from "./request";

/** The services the API calls; optional ones answer 404 when a deployment lacks them. */
export interface ApiServices {
  readonly runs: RunsService;
  readonly flows?: FlowsService;
  readonly schedules?: SchedulesService;
  readonly packages?: PackagesService;
  readonly deployments?: DeploymentsService;
}

function need<T>(service: T | undefined, what: string): T {
  if (!service) throw new NotFoundError(`${what} are not enabled in this deployment`);
  return service;
}

export function createHandlers(deps: ApiDependencies): Record<RouteName, Handler> {
  const services = deps.services;
  return {
    ...runHandlers(deps),
    ...flowHandlers(() => need(services.flows, "Flow registrations")),
    ...scheduleHandlers(() => need(services.schedules, "Schedules")),
    ...packageHandlers(() => need(services.packages, "Dependency packages")),
    ...deploymentHandlers(() => need(services.deployments, "Deployments")),
  };
}
