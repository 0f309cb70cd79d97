import {
  ConflictError,
  DeploymentNotFoundError,
  DepPackageNotFoundError,
  ForbiddenError,
  ValidationError,
} from "../../lib/errors";
import { Persistence } from "../../lib/persistence/persistence";
import type { DepPackageRecord } from "../../lib/persistence/records";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { uniqueOrg } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(() => env.close());

let slugCounter = 0;
function pkg(org: string, overrides: Partial<DepPackageRecord> = {}): DepPackageRecord {
  const slug = overrides.slug ?? `pkg-${process.pid}-${++slugCounter}`;
  return {
    slug,
    org_id: org,
    package_s3_uri: `s3://dagy-artifacts/dep-packages/${slug}.zip`,
    version: "1.0.0",
    created_at: "2024-01-01T00:00:00.000Z",
    ...overrides,
  };
}

describe("dep packages", () => {
  it("stores, reads and lists an org's packages", async () => {
    const org = uniqueOrg();
    const a = pkg(org, { slug: `a-${slugCounter}-${process.pid}` });
    const b = pkg(org, { slug: `b-${slugCounter}-${process.pid}`, shared_with: ["*"] });
    await persistence.depPackages.put(b);
    await persistence.depPackages.put(a);
    await persistence.depPackages.put(pkg(uniqueOrg()));
    expect(await persistence.depPackages.get(a.slug)).toEqual(a);
    expect((await persistence.depPackages.listForOrg(org)).map((p) => p.slug)).toEqual([
      a.slug,
      b.slug,
    ]);
    const many = await persistence.depPackages.getMany([a.slug, "missing-slug", b.slug]);
    expect([...many.keys()].sort()).toEqual([a.slug, b.slug].sort());
  });

  it("a slug belongs to one org: another org cannot take it over", async () => {
    const owner = uniqueOrg();
    const record = pkg(owner);
    await persistence.depPackages.put(record);
    await persistence.depPackages.put({ ...record, version: "1.1.0" });
    await expect(persistence.depPackages.put({ ...record, org_id: uniqueOrg() })).rejects.toThrow(
      ConflictError,
    );
    expect(await persistence.depPackages.get(record.slug)).toEqual({ ...record, version: "1.1.0" });
  });

  it("validates slug and package URI", async () => {
    const org = uniqueOrg();
    await expect(persistence.depPackages.put(pkg(org, { slug: "My_Deps" }))).rejects.toThrow(
      /slug "My_Deps" is invalid/,
    );
    await expect(
      persistence.depPackages.put(pkg(org, { package_s3_uri: "https://x/y.zip" })),
    ).rejects.toThrow(/package_s3_uri .* is not an S3 URI/);
  });

  it("getMany reads more than one BatchGetItem page", async () => {
    const org = uniqueOrg();
    const records = Array.from({ length: 130 }, () => pkg(org));
    await Promise.all(records.map((r) => persistence.depPackages.put(r)));
    const slugs = records.map((r) => r.slug);
    expect((await persistence.depPackages.getMany(slugs)).size).toBe(130);
  });
});

describe("deployments", () => {
  it("resolves package URIs in slug order, including packages shared by other orgs", async () => {
    const org = uniqueOrg("acme");
    const own = pkg(org);
    const sharedWithOrg = pkg(uniqueOrg(), {
      package_s3_uri: "s3://shared-bucket/dep-packages/x.tar.gz",
    });
    const sharedWithOrg2 = { ...sharedWithOrg, shared_with: [org] };
    const everyone = pkg(uniqueOrg(), { shared_with: ["*"] });
    for (const p of [own, sharedWithOrg2, everyone]) await persistence.depPackages.put(p);

    await persistence.deployments.put(
      {
        org_id: org,
        deployment_name: "production",
        environment: "production",
        dep_package_slugs: [everyone.slug, own.slug, sharedWithOrg2.slug],
        updated_at: "",
      },
      persistence.depPackages,
    );
    const stored = await persistence.deployments.get(org, "production");
    expect(stored?.dep_package_slugs).toEqual([everyone.slug, own.slug, sharedWithOrg2.slug]);
    expect(stored?.updated_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await persistence.deployments.resolvePackageUris(org, "production")).toEqual([
      everyone.package_s3_uri,
      own.package_s3_uri,
      "s3://shared-bucket/dep-packages/x.tar.gz",
    ]);
    expect((await persistence.deployments.list(org)).map((d) => d.deployment_name)).toEqual([
      "production",
    ]);
  });

  it("refuses unknown packages and other orgs' unshared packages, naming the slug", async () => {
    const org = uniqueOrg();
    const foreign = pkg(uniqueOrg("other"), { shared_with: ["someone-else"] });
    await persistence.depPackages.put(foreign);
    const base = {
      org_id: org,
      deployment_name: "staging",
      environment: "staging",
      updated_at: "",
    };
    await expect(
      persistence.deployments.put(
        { ...base, dep_package_slugs: ["does-not-exist"] },
        persistence.depPackages,
      ),
    ).rejects.toThrow(new DepPackageNotFoundError("dep package does-not-exist is not registered"));
    await expect(
      persistence.deployments.put(
        { ...base, dep_package_slugs: [foreign.slug] },
        persistence.depPackages,
      ),
    ).rejects.toThrow(new ForbiddenError(`org ${org} may not use dep package ${foreign.slug}`));
    expect(await persistence.deployments.get(org, "staging")).toBeUndefined();
  });

  it("re-checks access when resolving: revoked sharing is refused", async () => {
    const org = uniqueOrg();
    const owner = uniqueOrg();
    const shared = pkg(owner, { shared_with: [org] });
    await persistence.depPackages.put(shared);
    await persistence.deployments.put(
      {
        org_id: org,
        deployment_name: "prod",
        environment: "production",
        dep_package_slugs: [shared.slug],
        updated_at: "",
      },
      persistence.depPackages,
    );
    await persistence.depPackages.put({ ...shared, shared_with: [] });
    await expect(persistence.deployments.resolvePackageUris(org, "prod")).rejects.toThrow(
      ForbiddenError,
    );
  });

  it("a missing deployment is DeploymentNotFoundError; duplicates are a ValidationError", async () => {
    const org = uniqueOrg();
    await expect(persistence.deployments.resolvePackageUris(org, "nope")).rejects.toThrow(
      DeploymentNotFoundError,
    );
    const p = pkg(org);
    await persistence.depPackages.put(p);
    await expect(
      persistence.deployments.put(
        {
          org_id: org,
          deployment_name: "x",
          environment: "dev",
          dep_package_slugs: [p.slug, p.slug],
          updated_at: "",
        },
        persistence.depPackages,
      ),
    ).rejects.toThrow(ValidationError);
  });
});
