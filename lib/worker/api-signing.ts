/**
 * How a worker in AWS signs its calls to the platform's API (an isolated map's child runs):
 * SigV4 for `execute-api` with its task role's credentials, which the SDK's default chain finds
 * through the container credentials provider (ECS sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI).
 */
import {
  createSigV4Signer,
  executeApiRegion,
  signFetchRequest,
  type SigV4Signer,
} from "../aws/sigv4";
import { ConfigurationError } from "../errors";
import { WORKER_ENV } from "../config/env";
import type { WorkerConfig } from "./config";

/**
 * `sign` for HttpChildRunApi. The region is AWS_REGION (Fargate sets it), else the URL's. Built
 * on first use: a run without isolated maps never signs, and never fails for want of a region.
 */
export function taskRoleSigner(
  config: Pick<WorkerConfig, "apiUrl" | "region">,
  credentials?: Parameters<typeof createSigV4Signer>[0]["credentials"],
): (request: Request) => Promise<Request> {
  let signer: SigV4Signer | undefined;
  return async (request) => {
    if (signer === undefined) {
      const region = config.region ?? executeApiRegion(config.apiUrl ?? "");
      if (region === undefined) {
        throw new ConfigurationError(
          `${WORKER_ENV.apiUrl}: cannot tell the region to sign for (set AWS_REGION)`,
        );
      }
      signer = createSigV4Signer({
        region,
        ...(credentials !== undefined ? { credentials } : {}),
        noCredentials: (error) =>
          new ConfigurationError(
            `the worker has no AWS credentials to sign its API calls with (${error.message}); is the task role set?`,
          ),
      });
    }
    return signFetchRequest(signer, request);
  };
}
