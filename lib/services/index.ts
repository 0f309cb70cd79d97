/**
 * `createServices(config, clients)`: the one place the platform's objects are built — the local
 * platform, the launch Lambda and tests call it. Everything a service needs comes from the
 * runtime configuration and the clients handed in; the embedded platform swaps in its own
 * compute backend, schedule store and log source through `overrides`.
 *
 * It composes two halves that the HTTP API's two Lambda functions build on their own:
 * `createCoreServices` (./core.ts: runs, reading flows, deployments, schedules) for the api
 * function, and `createRegistrationServices` (./registration.ts: registering flows and
 * packages) for the registration function, whose presigner and archive code the api's bundle
 * must not carry. Entry points that need one half import its module, not this one.
 */
import type { RuntimeConfig } from "../config/runtime";
import {
  createCoreServices,
  type CoreServices,
  type ServiceClients,
  type ServiceOverrides,
} from "./core";
import type { FlowsService } from "./flows";
import type { PackagesService } from "./packages";
import { createRegistrationServices } from "./registration";

export * from "./caller";
export { FlowCatalog, type FlowVersionDetail } from "./flow-catalog";
export { FlowsService, MAX_ARTIFACT_BYTES } from "./flows";
export { DeploymentsService } from "./deployments";
export { PackagesService, MAX_PACKAGE_BYTES } from "./packages";
export * from "./run-logs";
export { RunsService, type BatchInput, type LaunchInput, type RunLauncher } from "./runs";
export { SchedulesService, type ScheduleInput, type ScheduleView } from "./schedules";
export {
  createCoreServices,
  type CoreServices,
  type ServiceClients,
  type ServiceOverrides,
} from "./core";
export { createRegistrationServices, type RegistrationServices } from "./registration";

/** Every service: what the local platform serves in one process. */
export interface Services extends Omit<CoreServices, "flows"> {
  /** Reading and registering flows; unset without an S3 client and an artifacts bucket. */
  readonly flows?: FlowsService;
  readonly packages?: PackagesService;
}

export function createServices(
  config: RuntimeConfig,
  clients: ServiceClients,
  overrides: ServiceOverrides = {},
): Services {
  const { flows: _catalog, ...core } = createCoreServices(config, clients, overrides);
  return {
    ...core,
    ...createRegistrationServices(config, clients, {
      persistence: core.persistence,
      ...(core.store ? { store: core.store } : {}),
      ...(overrides.clock ? { clock: overrides.clock } : {}),
    }),
  };
}
