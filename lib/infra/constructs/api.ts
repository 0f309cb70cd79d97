import type { RemovalPolicy } from "aws-cdk-lib";
import * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as authorizers from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import * as integrations from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { API_ROUTES, type ApiFunction } from "../../api/routes";
import type { ApiAuthConfig } from "../config";

export interface ApiConstructProps {
  readonly apiName: string;
  /** The function behind each route, by the route's `fn` (lib/api/routes.ts). */
  readonly handlers: Readonly<Record<ApiFunction, lambda.IFunction>>;
  /** IAM (SigV4-signed requests; default) or JWT (an OIDC issuer). */
  readonly auth: ApiAuthConfig;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Default 50 requests per second steady, 100 burst, for the whole stage. */
  readonly throttle?: apigwv2.ThrottleSettings;
}

/**
 * The HTTP API: every route in `API_ROUTES` behind one authorizer, each integrated with the
 * function its `fn` names (one integration per function), with JSON access logs. There is no
 * unauthenticated route.
 */
export class ApiConstruct extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiConstructProps) {
    super(scope, id);
    this.httpApi = new apigwv2.HttpApi(this, "HttpApi", {
      apiName: props.apiName,
      description: "Dagy: launch and track flow runs, list flows, manage schedules",
      createDefaultStage: false,
      defaultAuthorizer: authorizerFor(props.auth),
    });

    this.accessLogGroup = new logs.LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            requestTime: "$context.requestTime",
            routeKey: "$context.routeKey",
            status: "$context.status",
            sourceIp: "$context.identity.sourceIp",
            caller: "$context.identity.caller",
            responseLength: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationError: "$context.integrationErrorMessage",
            authorizerError: "$context.authorizer.error",
          }),
        ),
      },
    });

    // "Handler" for the api function keeps its integration's logical ID as before the split.
    const byFunction: Record<ApiFunction, integrations.HttpLambdaIntegration> = {
      api: new integrations.HttpLambdaIntegration("Handler", props.handlers.api),
      registration: new integrations.HttpLambdaIntegration(
        "RegistrationHandler",
        props.handlers.registration,
      ),
    };
    for (const route of API_ROUTES) {
      this.httpApi.addRoutes({
        path: route.path,
        methods: [apigwv2.HttpMethod[route.method]],
        integration: byFunction[route.fn],
      });
    }
  }

  /** Base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }
}

function authorizerFor(auth: ApiAuthConfig): apigwv2.IHttpRouteAuthorizer {
  if (auth.mode === "iam") return new authorizers.HttpIamAuthorizer();
  return new authorizers.HttpJwtAuthorizer("JwtAuthorizer", auth.issuer, {
    jwtAudience: [...auth.audience],
    identitySource: ["$request.header.Authorization"],
  });
}
