/**
 * AWS SDK v3 clients, created once per process and passed in: the seam for tests and for the
 * embedded default, where DynamoDB and S3 are local wire-compatible servers.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";

export interface AwsEndpoints {
  readonly region?: string;
  /** e.g. `http://127.0.0.1:4567` for dynalite. */
  readonly dynamodbEndpoint?: string;
  /** e.g. `http://127.0.0.1:4568` for s3rver (path-style addressing is used). */
  readonly s3Endpoint?: string;
}

export interface DataClients {
  readonly dynamodb: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly s3: S3Client;
}

/** Credentials for local servers, which accept any. */
const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export function createDataClients(endpoints: AwsEndpoints = {}): DataClients {
  const region = endpoints.region ?? "us-east-1";
  const dynamodb = new DynamoDBClient({
    region,
    ...(endpoints.dynamodbEndpoint
      ? { endpoint: endpoints.dynamodbEndpoint, credentials: LOCAL_CREDENTIALS }
      : {}),
  });
  const doc = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  const s3 = new S3Client({
    region,
    ...(endpoints.s3Endpoint
      ? { endpoint: endpoints.s3Endpoint, forcePathStyle: true, credentials: LOCAL_CREDENTIALS }
      : {}),
  });
  return { dynamodb, doc, s3 };
}

export function destroyDataClients(clients: DataClients): void {
  clients.doc.destroy();
  clients.dynamodb.destroy();
  clients.s3.destroy();
}
