/**
 * Placeholder: the Fargate pool's assignment source (DAGY_WARM_SOURCE=sqs) is built on another
 * branch, which replaces this file. Until then a worker started with `sqs` says so and exits.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ConfigurationError } from "../errors";
import type { AssignmentSource } from "./warm";

export function createSqsAssignmentSource(
  _env: Readonly<Record<string, string | undefined>>,
  _clients: { doc: DynamoDBDocumentClient },
): AssignmentSource {
  throw new ConfigurationError("sqs warm pools are not available in this build");
}
