import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import { workerRoutes } from "../../api/routes";
import { WORKER_ENV } from "../../config/env";
import { WORKER_EXTRA_ENV } from "../../worker/config";
import { acknowledgeWildcards } from "../nag";
import type { ApiConstruct } from "./api";
import type { ComputeConstruct } from "./compute";

/** The runs table's index a parent's worker lists its children by (lib/persistence/schema.ts). */
export const CHILDREN_INDEX = "by_parent";

export interface WorkerApiAccessProps {
  readonly compute: ComputeConstruct;
  readonly api: ApiConstruct;
  readonly runsTable: dynamodb.ITable;
  /** Warm pools' worker containers (constructs/warm-pools.ts): they get the URL too. */
  readonly warmContainers?: readonly ecs.ContainerDefinition[];
}

/**
 * Lets a parent run's worker run isolated maps in AWS: it asks the API for child runs (POST
 * /runs/batch, POST /runs/{runId}/cancel), signed with SigV4 as its task role, and lists its
 * children on the runs table's `by_parent` index. The API decides which launches and cancels
 * the worker may make (lib/services/caller.ts); this grants the transport only. IAM mode only:
 * in JWT mode the worker has no token, gets no URL, and runs isolated maps in-process.
 *
 * Why the URL is a plain environment variable of the task definition, and no cycle: the URL is
 * built from the `AWS::ApiGatewayV2::Api` resource's id alone (`https://<id>.execute-api...`),
 * and that resource depends on nothing; the routes, integration and Lambda permission that
 * depend on the API function (whose policy names the task definition's family and roles) are
 * separate resources. So task definition -> Api, and Lambda -> task definition, never back.
 * `npx cdk synth` (and the stack test) would fail with a cycle otherwise.
 */
export class WorkerApiAccess extends Construct {
  constructor(scope: Construct, id: string, props: WorkerApiAccessProps) {
    super(scope, id);
    const { compute, api } = props;
    for (const container of [compute.container, ...(props.warmContainers ?? [])]) {
      container.addEnvironment(WORKER_ENV.apiUrl, api.url);
      container.addEnvironment(WORKER_EXTRA_ENV.apiAuth, "sigv4");
    }

    // `*` stands for a path parameter; an execute-api ARN is `<api>/<stage>/<METHOD>/<path>`.
    const routeArns = workerRoutes().map((route) =>
      api.httpApi.arnForExecuteApi(
        route.method,
        route.path.replace(/\{[^}]+\}/g, "*"),
        api.stage.stageName,
      ),
    );
    iam.Grant.addToPrincipal({
      grantee: compute.taskRole,
      actions: ["execute-api:Invoke"],
      resourceArns: routeArns,
    });
    iam.Grant.addToPrincipal({
      grantee: compute.taskRole,
      actions: ["dynamodb:Query"],
      resourceArns: [`${props.runsTable.tableArn}/index/${CHILDREN_INDEX}`],
    });
    acknowledgeWildcards(compute.taskRole, [
      ...routeArns
        .filter((arn) => arn.includes("*"))
        .map((resource) => ({
          resource,
          reason:
            "POST /runs/{runId}/cancel of this API and stage: the run id is the path parameter; the API lets the worker cancel only its own children.",
        })),
    ]);
  }
}
