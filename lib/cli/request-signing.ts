/**
 * How a request proves who sends it to a deployed Dagy API in IAM mode: AWS Signature Version 4
 * for `execute-api`, with the credentials of the SDK's default chain (environment, shared config
 * and credentials files, SSO, process, web identity, container and instance metadata) — the
 * same ones `aws` and the SDK clients use. (JWT mode's bearer token is in api-client.ts.)
 *
 * Loaded only for an IAM-mode API, so other commands do not pay for the SDK's credential code.
 */
import { createHash, createHmac, type BinaryLike, type Hash, type Hmac } from "node:crypto";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import {
  loadConfig,
  NODE_REGION_CONFIG_FILE_OPTIONS,
  NODE_REGION_CONFIG_OPTIONS,
} from "@smithy/core/config";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentityProvider, Checksum, SourceData } from "@smithy/types";
import { ConfigurationError } from "../errors";
import type { RequestAuthorizer } from "./api-client";

/** The service name API Gateway verifies SigV4 signatures against. */
export const EXECUTE_API_SERVICE = "execute-api";

/**
 * SHA-256 (plain and HMAC) from node:crypto in the shape the signer wants: the same digests
 * `@smithy/hash-node` computes, without another package.
 */
export class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.start();
  }
  private start(): Hash | Hmac {
    return this.secret === undefined
      ? createHash("sha256")
      : createHmac("sha256", toBinary(this.secret));
  }
  reset(): void {
    this.hash = this.start();
  }
  update(data: SourceData): void {
    this.hash.update(toBinary(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function toBinary(data: SourceData): BinaryLike {
  if (typeof data === "string") return data;
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export interface SigV4Options {
  readonly region: string;
  /** Default: the SDK's default credential chain. */
  readonly credentials?: AwsCredentialIdentityProvider;
}

/** Signs each request for API Gateway's IAM authorizer. */
export function sigV4Authorizer(options: SigV4Options): RequestAuthorizer {
  const credentials = options.credentials ?? defaultProvider();
  const signer = new SignatureV4({
    service: EXECUTE_API_SERVICE,
    region: options.region,
    credentials: async () => {
      try {
        return await credentials();
      } catch (error) {
        throw new ConfigurationError(
          `no AWS credentials to sign the request with (${(error as Error).message}); ` +
            "set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        );
      }
    },
    sha256: NodeSha256,
  });
  return async (request) => {
    const query: Record<string, string> = {};
    for (const [key, value] of request.url.searchParams) query[key] = value;
    const signed = await signer.sign({
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      ...(request.url.port !== "" ? { port: Number(request.url.port) } : {}),
      path: request.url.pathname,
      query,
      headers: { ...request.headers, host: request.url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    // fetch sets Host itself (and refuses to be told).
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
}

/**
 * The region of the caller's AWS configuration (AWS_REGION, then the profile's `region`), for
 * an API whose URL does not say it.
 */
export async function configuredRegion(): Promise<string | undefined> {
  try {
    return await loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS)();
  } catch {
    return undefined;
  }
}
