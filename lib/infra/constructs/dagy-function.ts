import { AssetStaging, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import * as path from "node:path";
import { acknowledgeRule, acknowledgeWildcards } from "../nag";
import { REPO_ROOT } from "../paths";

export interface DagyFunctionProps {
  /** Absolute path of the handler module; it exports `handler`. */
  readonly entry: string;
  readonly functionName: string;
  readonly description: string;
  readonly logRetention: logs.RetentionDays;
  /** Applied to the function's log group. */
  readonly removalPolicy: RemovalPolicy;
  /** Default 30 seconds. */
  readonly timeout?: Duration;
  /** Default 512 MB: ARM64 CPU scales with memory, and cold starts are mostly CPU. */
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * Module substitutions in every handler bundle (esbuild `alias`; bench/handlers.ts applies the
 * same). The SDK's default credential chain becomes environment credentials only, which is all
 * the Lambda runtime provides: ~130 KB less per bundle (SSO/INI/process/IMDS providers and the
 * STS/SSO clients behind them) and a faster cold start. Why it is safe: lambda/aws-credentials.ts.
 * Paths are relative to the project root, esbuild's working directory in both local and Docker
 * bundling (see `workingDirectory` below).
 */
export const LAMBDA_BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  "@aws-sdk/credential-provider-node": "./lambda/aws-credentials.ts",
};

/**
 * Access to a table bound to a function: CDK's read or read-write action sets (table and
 * indexes), or exact actions on the table and, when `includeIndexes`, its indexes.
 */
export type TableAccess =
  "read" | "readWrite" | { readonly actions: readonly string[]; readonly includeIndexes?: boolean };

/** Access to key patterns of a bucket, e.g. `{ write: ["run-inputs/*"] }`. */
export interface BucketAccess {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
}

/**
 * One Lambda function with the house defaults: Node.js 22 on ARM64, esbuild bundle with source
 * maps, its own log group with retention, and a role that can write only that log group.
 *
 * The AWS SDK v3 is bundled, not taken from the runtime: versions are pinned by the lock file,
 * tree-shaking leaves only the commands used, and a cold start reads one file.
 */
export class DagyFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: DagyFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, "LogGroup", {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // Own role instead of AWSLambdaBasicExecutionRole: that managed policy may write any log group.
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Execution role of ${props.functionName}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, "Function", {
      functionName: props.functionName,
      description: props.description,
      entry: props.entry,
      handler: "handler",
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, "package-lock.json"),
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: "node22",
        format: nodejs.OutputFormat.CJS,
        // Prefer ES module builds (the AWS SDK ships both) so esbuild can drop unused code.
        mainFields: ["module", "main"],
        externalModules: [],
        tsconfig: path.join(REPO_ROOT, "tsconfig.json"),
        // CLI form `--alias:<module>=<path>`, one flag per entry.
        esbuildArgs: Object.fromEntries(
          Object.entries(LAMBDA_BUNDLE_ALIASES).map(([from, to]) => [`--alias:${from}`, to]),
        ),
        // Local bundling runs esbuild in the project root; Docker bundling must too, for the
        // aliases' relative paths.
        workingDirectory: AssetStaging.BUNDLING_INPUT_DIR,
      },
    });
    acknowledgeRule(
      this.function,
      "AwsSolutions-L1",
      "Node.js 22 is the house runtime: the same major as the worker image (node:22) and the toolchain the bundles are tested with. The next LTS is adopted deliberately, for Lambdas and worker together.",
    );
  }

  /** Sets an environment variable. */
  setEnvironment(name: string, value: string): this {
    this.function.addEnvironment(name, value);
    return this;
  }

  /** Sets `envVar` to the table's name and grants `access` on the table (and its indexes). */
  bindTable(envVar: string, table: dynamodb.ITable, access: TableAccess): this {
    this.function.addEnvironment(envVar, table.tableName);
    if (access === "read") table.grantReadData(this.function);
    else if (access === "readWrite") table.grantReadWriteData(this.function);
    else {
      dynamodb.TableGrants.fromTable(table, undefined, access.includeIndexes ?? false).actions(
        this.function,
        ...access.actions,
      );
    }
    acknowledgeWildcards(this.role, [
      {
        resource: `${table.tableArn}/index/*`,
        reason: "The table's own secondary indexes (queries by org, flow, status); no other table.",
      },
    ]);
    return this;
  }

  /** Sets `envVar` to the bucket's name and grants object reads/writes on the key patterns. */
  bindBucket(envVar: string, bucket: s3.IBucket, access: BucketAccess): this {
    this.function.addEnvironment(envVar, bucket.bucketName);
    const grant = (action: string, patterns: readonly string[] | undefined): void => {
      if (!patterns?.length) return;
      const resourceArns = patterns.map((p) => bucket.arnForObjects(p));
      iam.Grant.addToPrincipal({ grantee: this.function, actions: [action], resourceArns });
      acknowledgeWildcards(
        this.role,
        resourceArns
          .filter((arn) => arn.includes("*"))
          .map((resource) => ({
            resource,
            reason: `${action} on one key prefix of this bucket; keys carry ids unknown at deploy time.`,
          })),
      );
    };
    grant("s3:GetObject", access.read);
    grant("s3:PutObject", access.write);
    grant("s3:DeleteObject", access.delete);
    return this;
  }
}
