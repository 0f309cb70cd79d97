import { ValidationError } from "../../lib/errors";
import {
  validateDeploymentName,
  validateFlowName,
  validateFlowVersion,
  validateOrgId,
  validateSlug,
} from "../../lib/persistence/validate";

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    return error as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

it("accepts the identifiers the guide uses", () => {
  expect(validateOrgId("acme-corp")).toBe("acme-corp");
  expect(validateFlowName("etl_pipeline")).toBe("etl_pipeline");
  expect(validateFlowVersion("1.0.0")).toBe("1.0.0");
  expect(validateFlowVersion("2.0.0-rc.1+build.5")).toBe("2.0.0-rc.1+build.5");
  expect(validateFlowVersion("dev-branch")).toBe("dev-branch");
  expect(validateSlug("my-deps")).toBe("my-deps");
  expect(validateDeploymentName("production")).toBe("production");
});

it("names the field and the allowed pattern", () => {
  const error = errorOf(() => validateOrgId("-acme", "orgId"));
  expect(error).toBeInstanceOf(ValidationError);
  expect(error.field).toBe("orgId");
  expect(error.message).toBe(
    `orgId "-acme" is invalid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit (pattern ^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$)`,
  );
  expect(errorOf(() => validateFlowName(undefined)).message).toMatch(/^flow_name is required/);
});

it.each([
  ["org id with #", () => validateOrgId("acme#corp")],
  ["org id too long", () => validateOrgId("a".repeat(129))],
  ["flow name with /", () => validateFlowName("etl/x")],
  ["version with /", () => validateFlowVersion("1.0/0")],
  ["version too long", () => validateFlowVersion("1".repeat(65))],
  ["slug with capitals", () => validateSlug("My-Deps")],
  ["slug starting with -", () => validateSlug("-deps")],
  ["deployment name with space", () => validateDeploymentName("prod env")],
])("rejects %s", (_name, fn) => {
  expect(fn).toThrow(ValidationError);
});
