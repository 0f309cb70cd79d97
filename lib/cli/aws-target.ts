/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
/**
 * API calls against a deployed stack, without SigV4: the CLI builds the very `lib/api` service
 * the `api` Lambda runs, over the stack's tables, buckets and cluster, with the caller's AWS
 * credentials, and hands it the same requests it would send over HTTP. (This is what the
 * guide's Python does with DagLauncher() and the models.) Requests act for the org the command
 * names, as the deployed API does in IAM mode.
 */
import { randomUUID } from "node:crypto";
import { createApi, createAuthResolver } from "../api";
import { RunsService } from "../services/runs";
import { SchedulesService } from "../services/schedules";
import type { HttpApiEvent } from "../api/http";
import { createDataClients } from "../aws/clients";
import { LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
import { ConfigurationError } from "../errors";
import { FUNCTION_ENV } from "../config/env";
import { DagLauncher } from "../launcher/dag-launcher";
import { createJsonLogger } from "../log";
import { Persistence } from "../persistence/persistence";
import { ObjectStore } from "../storage/object-store";
import type { TableNames } from "../persistence/schema";
import { queryString, type ApiTransport } from "./api-client";
import type { AwsTarget } from "./target";

function tablesOf(env: Readonly<Record<string, string>>, source: string): TableNames {
  const get = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === "") {
      throw new ConfigurationError(`${name} is not set (from ${source})`);
    }
    return value;
  };
  return {
    flows: get(PLATFORM_ENV.flowsTable),
    runs: get(PLATFORM_ENV.runsTable),
    deployments: get(PLATFORM_ENV.deploymentsTable),
    depPackages: get(PLATFORM_ENV.depPackagesTable),
  };
}

export async function inProcessTransport(target: AwsTarget): Promise<ApiTransport> {
  const env = target.env;
  const region = env[PLATFORM_ENV.region];
  // Warnings only: the CLI prints its own outcome.
  const logger = createJsonLogger({ component: "dagy-cli" }, (line) => {
    if (!line.includes('"level":"info"')) process.stderr.write(`${line}\n`);
  });
  const clients = createDataClients(region !== undefined ? { region } : {});
  const persistence = new Persistence(clients.doc, tablesOf(env, target.source), { logger });
  const launcher = DagLauncher.fromEnv(env, {
    clients,
    persistence,
    // Parameters too large for the run record spill to S3 (the Lambda handlers refuse them).
    store: new ObjectStore(clients.s3),
    logger,
    // Only when DAGY_COMPUTE_BACKEND=local: the launcher itself no longer imports LocalBackend.
    localBackend: (options) => {
      const { LocalBackend } =
        require("../launcher/local-backend") as typeof import("../launcher/local-backend");
      return new LocalBackend(options);
    },
  });

  const launchFunctionArn = env[FUNCTION_ENV.launchFunctionArn];
  let schedules;
  if (launchFunctionArn !== undefined) {
    const { EventBridgeClient } =
      require("@aws-sdk/client-eventbridge") as typeof import("@aws-sdk/client-eventbridge");
    const { EventBridgeScheduleService } =
      require("../schedules/eventbridge") as typeof import("../schedules/eventbridge");
    const prefix = env[FUNCTION_ENV.scheduleRulePrefix];
    schedules = new EventBridgeScheduleService({
      events: new EventBridgeClient(region !== undefined ? { region } : {}),
      launchFunctionArn,
      ...(prefix !== undefined ? { namePrefix: prefix } : {}),
    });
  }
  const logGroup = env[LAUNCHER_ENV.logGroup];
  const environment = env[FUNCTION_ENV.environment];
  const api = createApi({
    services: {
      runs: new RunsService({
        launcher,
        runs: persistence.runs,
        ...(environment !== undefined ? { environment } : {}),
      }),
      ...(schedules !== undefined
        ? {
            schedules: new SchedulesService({
              store: schedules,
              persistence,
              ...(environment !== undefined ? { environment } : {}),
            }),
          }
        : {}),
    },
    auth: createAuthResolver("iam"),
    ...(region !== undefined ? { region } : {}),
    ...(logGroup !== undefined ? { logGroup } : {}),
    logger,
  });

  return async (request) => {
    const rawQueryString = queryString(request.query).slice(1);
    const now = new Date();
    const event: HttpApiEvent = {
      version: "2.0",
      routeKey: "$default",
      rawPath: request.path,
      rawQueryString,
      headers: {
        "content-type": "application/json",
        ...Object.fromEntries(
          Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        ),
      },
      ...(rawQueryString !== ""
        ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) }
        : {}),
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      isBase64Encoded: false,
      requestContext: {
        requestId: randomUUID(),
        stage: "$default",
        time: now.toISOString(),
        timeEpoch: now.getTime(),
        http: {
          method: request.method,
          path: request.path,
          sourceIp: "dagy-cli",
          userAgent: "dagy-cli",
        },
      },
    };
    const response = await api.handle(event);
    let body: unknown = response.body;
    try {
      body = JSON.parse(response.body);
    } catch {
      // keep the text
    }
    return { status: response.statusCode, body };
  };
}
