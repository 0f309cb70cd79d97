/** The four repositories over one DynamoDB document client. */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DeploymentRepository } from "./deployments";
import { DepPackageRepository } from "./dep-packages";
import { FlowRepository } from "./flows";
import { defaultPersistenceLogger, RunRepository, type PersistenceLogger } from "./runs";
import type { TableNames } from "./schema";

export interface PersistenceOptions {
  /** Receives warnings such as dropped task states. Default: JSON lines on stderr. */
  readonly logger?: PersistenceLogger;
}

export class Persistence {
  readonly flows: FlowRepository;
  readonly runs: RunRepository;
  readonly deployments: DeploymentRepository;
  readonly depPackages: DepPackageRepository;

  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly tables: TableNames,
    options: PersistenceOptions = {},
  ) {
    this.flows = new FlowRepository(doc, tables.flows);
    this.runs = new RunRepository(doc, tables.runs, options.logger ?? defaultPersistenceLogger);
    this.depPackages = new DepPackageRepository(doc, tables.depPackages);
    this.deployments = new DeploymentRepository(doc, tables.deployments, this.depPackages);
  }
}
