/**
 * Stand-in for `@aws-sdk/credential-provider-node` in the Lambda bundles only (an esbuild alias
 * set in lib/infra/constructs/dagy-function.ts and mirrored by bench/handlers.ts); the CLI and
 * tests keep the SDK's full chain.
 *
 * Why: every SDK client's runtime config imports the default chain statically, and with it the
 * SSO, INI, process, web-identity, login and IMDS providers plus the STS/SSO clients that back
 * them (@aws-sdk/nested-clients), about 130 KB minified that a Lambda never uses: the runtime
 * always puts the execution role's credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN, and the default chain would take them from there first anyway. Passing
 * `credentials` to the clients does not help: the import stays, so does the code.
 *
 * If a function ever runs where credentials come from elsewhere (a container credentials
 * endpoint), drop the alias; calls would otherwise fail with the SDK's "Unable to find
 * environment variable credentials".
 */
import { fromEnv, type FromEnvInit } from "@aws-sdk/credential-provider-env";
import type { AwsCredentialIdentityProvider } from "@smithy/types";

/** Same name and call shape as the chain it replaces (`credentialDefaultProvider(init)`). */
export const defaultProvider = (init: FromEnvInit = {}): AwsCredentialIdentityProvider =>
  fromEnv(init);
