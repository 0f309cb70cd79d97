/**
 * `createRegistrationServices(config, clients)`: what the registration function serves —
 * registering flow versions and dependency packages (presigned uploads, then commits that check
 * the archive) and listing packages. Only the flows and dep-packages tables and the artifacts
 * bucket; no launcher. Kept apart from ./core.ts so the api function's bundle carries none of
 * the presigner or archive code.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { RuntimeConfig } from "../config/runtime";
import type { JsonLogger } from "../log";
import { Persistence } from "../persistence/persistence";
import { ObjectStore } from "../storage/object-store";
import { UploadStore } from "../storage/uploads";
import { FlowsService } from "./flows";
import { PackagesService } from "./packages";

export interface RegistrationClients {
  readonly doc: DynamoDBDocumentClient;
  /** Without it (or without an artifacts bucket) registration is unavailable. */
  readonly s3?: S3Client;
}

export interface RegistrationOptions {
  /** Share the caller's repositories (createServices does). */
  readonly persistence?: Persistence;
  readonly store?: ObjectStore;
  readonly logger?: JsonLogger;
  readonly clock?: () => Date;
}

export interface RegistrationServices {
  readonly flows?: FlowsService;
  readonly packages?: PackagesService;
}

export function createRegistrationServices(
  config: RuntimeConfig,
  clients: RegistrationClients,
  options: RegistrationOptions = {},
): RegistrationServices {
  const { s3 } = clients;
  const artifactBucket = config.artifactBucket;
  if (!s3 || artifactBucket === undefined) return {};
  const persistence =
    options.persistence ??
    new Persistence(clients.doc, config.tables, options.logger ? { logger: options.logger } : {});
  const registry = {
    persistence,
    store: options.store ?? new ObjectStore(s3),
    uploads: new UploadStore(s3, artifactBucket, options.clock),
    artifactBucket,
    ...(options.clock ? { clock: options.clock } : {}),
  };
  return { flows: new FlowsService(registry), packages: new PackagesService(registry) };
}
