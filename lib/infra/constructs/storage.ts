import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import {
  TABLES,
  tableNamesFor,
  type KeyDef,
  type TableDef,
  type TableNames,
} from "../../persistence/schema";

export interface StorageConstructProps {
  /** `<appName>-<env>`: tables are named `<prefix>-runs` etc. (lib/persistence/schema.ts). */
  readonly resourcePrefix: string;
  /**
   * Keep tables and buckets when the stack is deleted or replaces them (but not when the
   * stack's first create rolls back: RETAIN_ON_UPDATE_OR_DELETE, so a retry does not meet
   * "already exists"), and turn on table deletion protection. When false, they are deleted
   * with the stack and the buckets are emptied first (versions and access logs included).
   */
  readonly retainData: boolean;
  /** Days a traceback (`exceptions/...`) stays in the traces bucket. */
  readonly traceExpirationDays: number;
  /** Days superseded artifact versions and uploaded run inputs (`run-inputs/...`) are kept. */
  readonly artifactNoncurrentExpirationDays: number;
  /** Days S3 server access logs are kept. */
  readonly accessLogExpirationDays: number;
}

export type DagyTables = { readonly [K in keyof TableNames]: dynamodb.Table };

/**
 * The four tables, described once in lib/persistence/schema.ts, and the two buckets.
 *
 * Tables: on-demand, point-in-time recovery, encrypted with the AWS managed key (`aws/dynamodb`):
 * key use shows in CloudTrail and there is no key policy to keep right. A customer managed key
 * would add cost and a second policy to every grant without a requirement asking for it.
 * Buckets: S3-managed encryption (SSE-S3), TLS only, public access blocked, server access logs
 * in a third bucket.
 */
export class StorageConstruct extends Construct {
  readonly tables: DagyTables;
  /** Flow artifacts (`flows/...`), dependency packages (`dep-packages/...`), large run inputs (`run-inputs/...`). */
  readonly artifactsBucket: s3.Bucket;
  /** Tracebacks of failed runs (`exceptions/<org_id>/<run_id>/traceback.txt`). */
  readonly tracesBucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageConstructProps) {
    super(scope, id);
    const removalPolicy = dataRemovalPolicy(props.retainData);
    const names = tableNamesFor(props.resourcePrefix);

    const tables: Partial<Record<keyof TableNames, dynamodb.Table>> = {};
    for (const def of TABLES) {
      tables[def.logicalName] = this.createTable(def, names[def.logicalName], removalPolicy, props);
    }
    this.tables = tables as DagyTables;

    const bucketDefaults = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      // A bucket CloudFormation deletes must be empty; the access-log bucket never is.
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    };

    this.accessLogsBucket = new s3.Bucket(this, "AccessLogsBucket", {
      ...bucketDefaults,
      // The log delivery service writes through a bucket policy; ACLs stay disabled. Its own
      // access is not logged (that would recurse); cdk-nag S1 exempts log target buckets.
      lifecycleRules: [
        { id: "expire-access-logs", expiration: Duration.days(props.accessLogExpirationDays) },
      ],
    });

    this.artifactsBucket = new s3.Bucket(this, "ArtifactsBucket", {
      ...bucketDefaults,
      // An artifact overwritten by mistake (same version, other bytes) can be recovered.
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "artifacts/",
      lifecycleRules: [
        {
          id: "expire-noncurrent-versions",
          noncurrentVersionExpiration: Duration.days(props.artifactNoncurrentExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Presigned uploads the API stages before a commit records them (lib/storage/uploads.ts).
          id: "expire-uploads",
          prefix: "uploads/",
          expiration: Duration.days(1),
        },
        {
          // Parameters too large for the container overrides; only the run's start reads them.
          id: "expire-run-inputs",
          prefix: "run-inputs/",
          expiration: Duration.days(props.artifactNoncurrentExpirationDays),
        },
      ],
    });

    this.tracesBucket = new s3.Bucket(this, "TracesBucket", {
      ...bucketDefaults,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "traces/",
      lifecycleRules: [
        {
          id: "expire-traces",
          expiration: Duration.days(props.traceExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
  }

  private createTable(
    def: TableDef,
    tableName: string,
    removalPolicy: RemovalPolicy,
    props: StorageConstructProps,
  ): dynamodb.Table {
    const table = new dynamodb.Table(this, `${pascal(def.logicalName)}Table`, {
      tableName,
      partitionKey: attribute(def.partitionKey),
      sortKey: def.sortKey ? attribute(def.sortKey) : undefined,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: def.ttlAttribute,
      deletionProtection: props.retainData,
      removalPolicy,
    });
    for (const index of def.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        sortKey: index.sortKey ? attribute(index.sortKey) : undefined,
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }
}

/** RETAIN_ON_UPDATE_OR_DELETE (RetainExceptOnCreate) for retained data, else DESTROY. */
export function dataRemovalPolicy(retainData: boolean): RemovalPolicy {
  return retainData ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;
}

function attribute(key: KeyDef): dynamodb.Attribute {
  return {
    name: key.name,
    type: key.type === "S" ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  };
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
