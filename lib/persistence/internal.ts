/** Helpers shared by the repositories. Not exported from the package. */
import {
  ConditionalCheckFailedException,
  type DynamoDBServiceException,
} from "@aws-sdk/client-dynamodb";
import {
  QueryCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ValidationError } from "../errors";

export type Item = Record<string, unknown>;

export function isConditionalCheckFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string } | undefined)?.name === "ConditionalCheckFailedException"
  );
}

export function isValidationException(error: unknown, messagePart: string | RegExp): boolean {
  const e = error as Partial<DynamoDBServiceException> | undefined;
  if (e?.name !== "ValidationException") return false;
  const message = e.message ?? "";
  return typeof messagePart === "string"
    ? message.includes(messagePart)
    : messagePart.test(message);
}

/** Removes the listed attributes (derived index keys etc.) from an item. */
export function omit<T>(item: Item, attributes: readonly string[]): T {
  const copy: Item = { ...item };
  for (const attribute of attributes) delete copy[attribute];
  return copy as T;
}

/** Runs a Query to exhaustion (follows LastEvaluatedKey). */
export async function queryAll(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    items.push(...((out.Items ?? []) as Item[]));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Pagination tokens are the base64url JSON of the key to continue after. */
export function encodeToken(key: Record<string, string>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/**
 * Decodes a token and checks it is a key of the expected shape for this query — including the
 * partition value, so a token from one org's listing cannot continue another's.
 */
export function decodeToken(
  token: string,
  expected: { attributes: readonly string[]; partition: { name: string; value: string } },
): Record<string, string> {
  const invalid = (why: string) =>
    new ValidationError(
      `nextToken is invalid (${why}): pass the nextToken returned by the previous page of the same listing`,
      "nextToken",
    );
  if (
    typeof token !== "string" ||
    token.length === 0 ||
    token.length > 4096 ||
    !/^[A-Za-z0-9_-]+$/.test(token)
  ) {
    throw invalid("not a base64url string");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid("not a token");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw invalid("not a token");
  const key = parsed as Record<string, unknown>;
  const names = Object.keys(key).sort();
  const wanted = [...expected.attributes].sort();
  if (names.length !== wanted.length || names.some((n, i) => n !== wanted[i])) {
    throw invalid("it belongs to a different listing");
  }
  for (const name of names) {
    if (typeof key[name] !== "string") throw invalid("not a token");
  }
  if (key[expected.partition.name] !== expected.partition.value) {
    throw invalid("it belongs to a different listing");
  }
  return key as Record<string, string>;
}

export function validateLimit(limit: number | undefined, max = 100, fallback = 25): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ValidationError(`limit must be an integer from 1 to ${max}`, "limit");
  }
  return limit;
}
