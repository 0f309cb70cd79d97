/** Deployments: named groups of dependency packages, per org (the guide's DeploymentModel). */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  DeploymentNotFoundError,
  DepPackageNotFoundError,
  ForbiddenError,
  ValidationError,
} from "../errors";
import { mayUsePackage, type DepPackageRepository } from "./dep-packages";
import { queryAll } from "./internal";
import type { DeploymentRecord, DepPackageRecord } from "./records";
import {
  validateDeploymentName,
  validateEnvironment,
  validateOrgId,
  validateSlug,
} from "../identifiers";

export class DeploymentRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly packages: DepPackageRepository,
  ) {}

  /**
   * Creates or replaces a deployment after checking that every package exists and may be used
   * by the deployment's org (DepPackageNotFoundError / ForbiddenError naming the slug).
   */
  async put(
    record: DeploymentRecord,
    packages: DepPackageRepository = this.packages,
  ): Promise<void> {
    validateOrgId(record.org_id);
    validateDeploymentName(record.deployment_name);
    validateEnvironment(record.environment);
    if (!Array.isArray(record.dep_package_slugs)) {
      throw new ValidationError(
        "dep_package_slugs must be a list of package slugs",
        "dep_package_slugs",
      );
    }
    const seen = new Set<string>();
    for (const slug of record.dep_package_slugs) {
      validateSlug(slug, "dep_package_slugs");
      if (seen.has(slug)) {
        throw new ValidationError(
          `dep_package_slugs lists ${slug} more than once`,
          "dep_package_slugs",
        );
      }
      seen.add(slug);
    }
    await this.checkedPackages(record.org_id, record.dep_package_slugs, packages);
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...record, updated_at: record.updated_at || new Date().toISOString() },
      }),
    );
  }

  async get(orgId: string, name: string): Promise<DeploymentRecord | undefined> {
    validateOrgId(orgId);
    validateDeploymentName(name);
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { org_id: orgId, deployment_name: name },
        ConsistentRead: true,
      }),
    );
    return out.Item as DeploymentRecord | undefined;
  }

  async list(orgId: string): Promise<DeploymentRecord[]> {
    validateOrgId(orgId);
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: "org_id = :org",
      ExpressionAttributeValues: { ":org": orgId },
    });
    return items as unknown as DeploymentRecord[];
  }

  /**
   * The S3 URIs of the deployment's packages, in slug order — what the worker receives in
   * DAGY_DEP_PACKAGE_URIS. Access is re-checked: sharing may have been revoked since `put`.
   */
  async resolvePackageUris(orgId: string, name: string): Promise<string[]> {
    const deployment = await this.get(orgId, name);
    if (!deployment) {
      throw new DeploymentNotFoundError(`deployment ${name} not found for org ${orgId}`);
    }
    const records = await this.checkedPackages(orgId, deployment.dep_package_slugs, this.packages);
    return records.map((p) => p.package_s3_uri);
  }

  private async checkedPackages(
    orgId: string,
    slugs: readonly string[],
    packages: DepPackageRepository,
  ): Promise<DepPackageRecord[]> {
    if (slugs.length === 0) return [];
    const found = await packages.getMany(slugs);
    return slugs.map((slug) => {
      const pkg = found.get(slug);
      if (!pkg) throw new DepPackageNotFoundError(`dep package ${slug} is not registered`);
      if (!mayUsePackage(pkg, orgId)) {
        throw new ForbiddenError(`org ${orgId} may not use dep package ${slug}`);
      }
      return pkg;
    });
  }
}
