/**
 * HTTP API registration handler (API Gateway HTTP API, payload 2.0): uploading and committing
 * flow versions and dependency packages, and listing packages (lib/api/routes.ts, `fn:
 * "registration"`). Apart from the api function so the presigner and archive code stay out of
 * the bundle behind launches and run status. Built once per execution environment.
 */
import { createAuthResolver, createRegistrationApi } from "../lib/api";
import type { HttpApiEvent, HttpResponse } from "../lib/api/http";
import { createDocClient, createS3Client, endpointsOf } from "../lib/aws/clients";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { createJsonLogger } from "../lib/log";
import { createRegistrationServices } from "../lib/services/registration";

const config = parseRuntimeConfig(process.env, "registration");
const logger = createJsonLogger({ component: "registration" });
const endpoints = endpointsOf(config);
const services = createRegistrationServices(
  config,
  { doc: createDocClient(endpoints), s3: createS3Client(endpoints) },
  { logger },
);
const api = createRegistrationApi({
  services,
  auth: createAuthResolver(config.api.authMode, {
    ...(config.api.orgClaim !== undefined ? { orgClaim: config.api.orgClaim } : {}),
  }),
  logger,
});

export const handler = (event: HttpApiEvent): Promise<HttpResponse> => api.handle(event);
