/**
 * Name of the worker container in the worker task definition. The stack names the container
 * with it, the launcher addresses its overrides to it, and reconciliation finds the worker's
 * exit code under it in ECS events. It is the default of PLATFORM_ENV.containerName.
 */
export const WORKER_CONTAINER_NAME = "worker";
