/**
 * AWS SDK v3 clients, created once per process and passed in: the seam for tests and for the
 * embedded default, where DynamoDB and S3 are local wire-compatible servers.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  createDynamoDbClient,
  documentClient,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  regionOption,
  type AwsEndpoints,
} from "./dynamodb";

export { createDocClient, endpointsOf, regionOption, type AwsEndpoints } from "./dynamodb";

export interface DataClients {
  readonly dynamodb: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly s3: S3Client;
}

export function createS3Client(endpoints: AwsEndpoints = {}): S3Client {
  return new S3Client(
    endpoints.s3Endpoint
      ? {
          region: endpoints.region ?? LOCAL_REGION,
          endpoint: endpoints.s3Endpoint,
          forcePathStyle: true,
          credentials: LOCAL_CREDENTIALS,
        }
      : regionOption(endpoints.region),
  );
}

export function createDataClients(endpoints: AwsEndpoints = {}): DataClients {
  const dynamodb = createDynamoDbClient(endpoints);
  return { dynamodb, doc: documentClient(dynamodb), s3: createS3Client(endpoints) };
}

export function destroyDataClients(clients: DataClients): void {
  clients.doc.destroy();
  clients.dynamodb.destroy();
  clients.s3.destroy();
}
