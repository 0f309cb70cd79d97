/** The repositories over one DynamoDB document client. */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DeploymentRepository } from "./deployments";
import { DepPackageRepository } from "./dep-packages";
import { FlowRepository, type TableWriteCount } from "./flows";
import type { IdempotencyRepository } from "./idempotency";
import { RunRepository } from "./runs";
import type { TableNames } from "./schema";
import { defaultPersistenceLogger, type PersistenceLogger } from "./task-states";

export interface PersistenceOptions {
  /** Receives warnings such as dropped task states. Default: JSON lines on stderr. */
  readonly logger?: PersistenceLogger;
  /** The clock for timestamps persistence takes itself (updated_at, ...). Default: now. */
  readonly now?: () => Date;
  /** Writes to the flows table, counted where all of them are seen (see TableWriteCount). */
  readonly flowTableWrites?: TableWriteCount;
}

export class Persistence {
  readonly flows: FlowRepository;
  readonly runs: RunRepository;
  /** Idempotency records (in the runs table). */
  readonly idempotency: IdempotencyRepository;
  readonly deployments: DeploymentRepository;
  readonly depPackages: DepPackageRepository;

  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly tables: TableNames,
    options: PersistenceOptions = {},
  ) {
    this.flows = new FlowRepository(doc, tables.flows, options.flowTableWrites);
    this.runs = new RunRepository(doc, tables.runs, options.logger ?? defaultPersistenceLogger, {
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    this.idempotency = this.runs.idempotency;
    this.depPackages = new DepPackageRepository(doc, tables.depPackages);
    this.deployments = new DeploymentRepository(doc, tables.deployments, this.depPackages);
  }
}
