import { RemovalPolicy } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { VpcConfig } from "../config";

export interface NetworkConstructProps {
  /** Create a VPC or look one up (lookup needs credentials or a cached cdk.context.json). */
  readonly vpc: VpcConfig;
  /** Retention of the VPC flow log (rejected traffic). */
  readonly logRetention: logs.RetentionDays;
  /** Applied to the flow log group. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * Where workers run: private subnets with egress through NAT, no public IPs, and a security
 * group with no ingress. S3 and DynamoDB traffic takes free gateway endpoints, so artifact
 * downloads and status writes do not pay NAT data charges.
 */
export class NetworkConstruct extends Construct {
  readonly vpc: ec2.IVpc;
  /** Subnets the launcher places worker tasks in (`DAGY_ECS_SUBNETS`). */
  readonly workerSubnets: ec2.ISubnet[];
  /** Security group of worker tasks (`DAGY_ECS_SECURITY_GROUPS`): egress only. */
  readonly workerSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkConstructProps) {
    super(scope, id);
    if (props.vpc.kind === "create") {
      const flowLogGroup = new logs.LogGroup(this, "FlowLogGroup", {
        retention: props.logRetention,
        removalPolicy: props.removalPolicy,
      });
      this.vpc = new ec2.Vpc(this, "Vpc", {
        maxAzs: props.vpc.maxAzs,
        natGateways: props.vpc.natGateways,
        subnetConfiguration: [
          { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: "workers", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        gatewayEndpoints: {
          S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
          DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        },
        // Rejected traffic only: enough to debug a blocked worker, cheap to keep.
        flowLogs: {
          rejected: {
            destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
            trafficType: ec2.FlowLogTrafficType.REJECT,
          },
        },
        // Nothing is placed in the default security group; restricting it needs a custom
        // resource Lambda, which is more to run and audit than it protects here.
        restrictDefaultSecurityGroup: false,
      });
    } else {
      this.vpc = ec2.Vpc.fromLookup(this, "Vpc", { vpcId: props.vpc.vpcId });
    }
    this.workerSubnets = this.vpc.selectSubnets({
      subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS,
    }).subnets;
    this.workerSecurityGroup = new ec2.SecurityGroup(this, "WorkerSecurityGroup", {
      vpc: this.vpc,
      description: "Dagy worker tasks: no ingress; egress to AWS APIs and what flows call",
      allowAllOutbound: true,
    });
  }
}
