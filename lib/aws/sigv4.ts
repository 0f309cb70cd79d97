/**
 * AWS Signature Version 4 for `execute-api`: how a caller proves who it is to a Dagy API in IAM
 * mode. Shared by the CLI (lib/cli/request-signing.ts: a person's credentials) and the worker
 * (lib/worker/isolated-map.ts: its task role's, asking for an isolated map's child runs).
 *
 * Credentials default to the SDK's default chain (environment, shared config and credentials
 * files, SSO, process, web identity, container and instance metadata); on Fargate that is the
 * container credentials provider, i.e. the task role. The signer and the chain are already in
 * every bundle that holds an SDK client, so this adds little to the worker's.
 */
import { createHash, createHmac, type BinaryLike, type Hash, type Hmac } from "node:crypto";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentityProvider, Checksum, SourceData } from "@smithy/types";

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

/** A request about to be sent: what a signature covers. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface SigV4Options {
  readonly region: string;
  /** Default: the SDK's default credential chain. */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Turns a failure to find credentials into the error the caller should see. */
  readonly noCredentials?: (error: Error) => Error;
}

/** Returns the headers to send for a request: its own plus the signature (no `host`). */
export type SigV4Signer = (request: SignableRequest) => Promise<Record<string, string>>;

/** Signs requests for API Gateway's IAM authorizer. */
export function createSigV4Signer(options: SigV4Options): SigV4Signer {
  const credentials = options.credentials ?? defaultProvider();
  const signer = new SignatureV4({
    service: EXECUTE_API_SERVICE,
    region: options.region,
    credentials: async () => {
      try {
        return await credentials();
      } catch (error) {
        throw options.noCredentials?.(error as Error) ?? error;
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

/** `<id>.execute-api.<region>.amazonaws.com[.cn]` -> the region; else undefined. */
export function executeApiRegion(url: string): string | undefined {
  try {
    return /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(
      new URL(url).hostname,
    )?.[1];
  } catch {
    return undefined;
  }
}

/**
 * A fetch `Request` signed: for callers that build requests for fetch (the worker). The body
 * is read once and put back, so the returned request can still be sent.
 */
export async function signFetchRequest(signer: SigV4Signer, request: Request): Promise<Request> {
  const body = request.body === null ? undefined : await request.text();
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const signed = await signer({
    method: request.method,
    url: new URL(request.url),
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  return new Request(request.url, {
    method: request.method,
    headers: signed,
    ...(body !== undefined ? { body } : {}),
  });
}
