/** Handlers of the dependency-package routes: list, upload, commit. */
import type { PackagesService } from "../../services/packages";
import { jsonResponse, parseJsonBody } from "../http";
import { packageCommitSchema, packageUploadSchema, parseWith } from "../schemas";
import { packageBody, uploadBody } from "../shape";
import { orgQuery, requestedOrg, type HandlerGroup } from "./request";

type PackageRoute = "listPackages" | "createPackageUpload" | "commitPackage";

export function packageHandlers(packages: () => PackagesService): HandlerGroup<PackageRoute> {
  return {
    async listPackages({ event, caller }) {
      const list = await packages().list(caller, orgQuery(event));
      return jsonResponse(200, { packages: list.map(packageBody) });
    },

    async createPackageUpload({ event, caller }) {
      const body = parseWith(packageUploadSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const upload = await packages().createUpload(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: body.name,
        version: body.version,
        format: body.format,
        sha256: body.sha256,
        size: body.size,
      });
      return jsonResponse(200, uploadBody(upload));
    },

    async commitPackage({ event, caller }) {
      const body = parseWith(packageCommitSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const record = await packages().commit(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: body.name,
        version: body.version,
        format: body.format,
        uploadId: body.upload_id,
        ...(body.shared_with !== undefined ? { sharedWith: body.shared_with } : {}),
      });
      return jsonResponse(200, packageBody(record));
    },
  };
}
