/**
 * How the CLI proves who sends a request to a deployed Dagy API in IAM mode: AWS Signature
 * Version 4 for `execute-api` (lib/aws/sigv4.ts), with the credentials of the SDK's default
 * chain — the same ones `aws` and the SDK clients use. (JWT mode's bearer token is in
 * http-transport.ts.)
 *
 * Loaded only for an IAM-mode API, so other commands do not pay for the SDK's credential code.
 */
import {
  loadConfig,
  NODE_REGION_CONFIG_FILE_OPTIONS,
  NODE_REGION_CONFIG_OPTIONS,
} from "@smithy/core/config";
import { createSigV4Signer, type SigV4Options } from "../aws/sigv4";
import { ConfigurationError } from "../errors";
import type { RequestAuthorizer } from "./api-client";

/** Signs each request for API Gateway's IAM authorizer. */
export function sigV4Authorizer(options: Omit<SigV4Options, "noCredentials">): RequestAuthorizer {
  return createSigV4Signer({
    ...options,
    noCredentials: (error) =>
      new ConfigurationError(
        `no AWS credentials to sign the request with (${error.message}); ` +
          "set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      ),
  });
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
