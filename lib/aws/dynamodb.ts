/**
 * The DynamoDB document client, alone: the handlers that never touch S3 (launch, task events,
 * reconciliation) import this module, not ./clients, so the S3 client (~100 KB) stays out of
 * their bundles. One region chain for every client: the configured region when set, else the
 * SDK's own chain (AWS_REGION, the profile, IMDS) — never a hard-coded fallback.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export interface AwsEndpoints {
  readonly region?: string;
  /** e.g. `http://127.0.0.1:4567` for dynalite. */
  readonly dynamodbEndpoint?: string;
  /** e.g. `http://127.0.0.1:4568` for s3rver (path-style addressing is used). */
  readonly s3Endpoint?: string;
}

/** Credentials for local servers, which accept any. */
export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
/** Region for local servers, which ignore it (the SDK still needs one to sign). */
export const LOCAL_REGION = "us-east-1";

/** `{ region }` when one is configured; the SDK's chain otherwise. */
export function regionOption(region: string | undefined): { region?: string } {
  return region !== undefined ? { region } : {};
}

/** The endpoints a runtime configuration names. */
export function endpointsOf(config: {
  readonly region?: string;
  readonly endpoints: { readonly dynamodb?: string; readonly s3?: string };
}): AwsEndpoints {
  return {
    ...regionOption(config.region),
    ...(config.endpoints.dynamodb !== undefined
      ? { dynamodbEndpoint: config.endpoints.dynamodb }
      : {}),
    ...(config.endpoints.s3 !== undefined ? { s3Endpoint: config.endpoints.s3 } : {}),
  };
}

export function createDynamoDbClient(endpoints: AwsEndpoints = {}): DynamoDBClient {
  return new DynamoDBClient(
    endpoints.dynamodbEndpoint
      ? {
          region: endpoints.region ?? LOCAL_REGION,
          endpoint: endpoints.dynamodbEndpoint,
          credentials: LOCAL_CREDENTIALS,
        }
      : regionOption(endpoints.region),
  );
}

export function documentClient(dynamodb: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
}

export function createDocClient(endpoints: AwsEndpoints = {}): DynamoDBDocumentClient {
  return documentClient(createDynamoDbClient(endpoints));
}
