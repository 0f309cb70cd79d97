import { InvalidLaunchRequestError } from "../../lib/errors";
import {
  checkResources,
  isValidFargatePair,
  resolveResources,
  WORKLOAD_PROFILES,
} from "../../lib/launcher";

describe("Fargate cpu/memory table", () => {
  it.each([
    ["256", "512"],
    ["256", "1024"],
    ["256", "2048"],
    ["512", "1024"],
    ["512", "4096"],
    ["1024", "2048"],
    ["1024", "8192"],
    ["2048", "4096"],
    ["2048", "16384"],
    ["4096", "8192"],
    ["4096", "30720"],
    ["8192", "16384"],
    ["8192", "61440"],
    ["16384", "32768"],
    ["16384", "122880"],
    // 20 GB and 40 GB are on AWS's 4 GB / 8 GB grids (16 + 4, 32 + 8): valid, not edge failures.
    ["8192", "20480"],
    ["16384", "40960"],
  ])("accepts cpu %s with memory %s", (cpu, memory) => {
    expect(isValidFargatePair(cpu, memory)).toBe(true);
    expect(resolveResources({ cpu, memory })).toMatchObject({ cpu, memory });
  });

  it.each([
    ["256", "4096", "with cpu 256, memory must be one of 512, 1024, 2048"],
    ["256", "3072", "with cpu 256, memory must be one of 512, 1024, 2048"],
    ["512", "512", "with cpu 512, memory must be 1024-4096 in steps of 1024"],
    ["1024", "1536", "with cpu 1024, memory must be 2048-8192 in steps of 1024"],
    ["1024", "9216", "with cpu 1024, memory must be 2048-8192 in steps of 1024"],
    ["4096", "31744", "with cpu 4096, memory must be 8192-30720 in steps of 1024"],
    ["8192", "18432", "with cpu 8192, memory must be 16384-61440 in steps of 4096"],
    ["16384", "36864", "with cpu 16384, memory must be 32768-122880 in steps of 8192"],
    ["16384", "131072", "with cpu 16384, memory must be 32768-122880 in steps of 8192"],
  ])("refuses cpu %s with memory %s, saying what is allowed", (cpu, memory, allowed) => {
    expect(isValidFargatePair(cpu, memory)).toBe(false);
    const error = captureError(() => resolveResources({ cpu, memory }));
    expect(error).toBeInstanceOf(InvalidLaunchRequestError);
    expect(error.field).toBe("memory");
    expect(error.message).toContain(allowed);
  });

  it("refuses a cpu value Fargate does not have, listing the allowed ones", () => {
    const error = captureError(() => resolveResources({ cpu: "3000", memory: "8192" }));
    expect(error.field).toBe("cpu");
    expect(error.message).toContain("256, 512, 1024, 2048, 4096, 8192, 16384");
  });

  it("refuses non-canonical numbers such as 4096.0 or 04096", () => {
    expect(isValidFargatePair("2048", "4096.0")).toBe(false);
    expect(isValidFargatePair("2048", "04096")).toBe(false);
    expect(isValidFargatePair("2048", " 4096")).toBe(false);
  });

  it("refuses cpu without memory and memory without cpu", () => {
    expect(checkResources({ cpu: "2048" })).toEqual([
      { field: "memory", message: expect.stringContaining("memory is required with cpu") },
    ]);
    expect(checkResources({ memory: "4096" })).toEqual([
      { field: "cpu", message: expect.stringContaining("cpu is required with memory") },
    ]);
  });

  it("refuses a profile together with explicit cpu/memory rather than picking one", () => {
    const [problem] = checkResources({ workloadProfile: "large", cpu: "2048", memory: "4096" });
    expect(problem?.message).toContain("not both");
  });

  it("maps each workload profile to the guide's size", () => {
    expect(WORKLOAD_PROFILES).toEqual({
      small: { cpu: "256", memory: "512" },
      medium: { cpu: "1024", memory: "2048" },
      large: { cpu: "2048", memory: "4096" },
      xlarge: { cpu: "4096", memory: "8192" },
      heavy: { cpu: "8192", memory: "16384" },
      max: { cpu: "16384", memory: "32768" },
    });
    for (const [name, size] of Object.entries(WORKLOAD_PROFILES)) {
      expect(isValidFargatePair(size.cpu, size.memory)).toBe(true);
      expect(resolveResources({ workloadProfile: name as keyof typeof WORKLOAD_PROFILES })).toEqual(
        {
          ...size,
          ephemeralStorageGib: 21,
          capacityProvider: "FARGATE",
          workloadProfile: name,
          overrideSize: true,
        },
      );
    }
  });

  it("defaults to the medium profile, 21 GiB and on-demand Fargate", () => {
    expect(resolveResources({})).toEqual({
      cpu: "1024",
      memory: "2048",
      ephemeralStorageGib: 21,
      capacityProvider: "FARGATE",
      workloadProfile: "medium",
      overrideSize: true,
    });
  });

  it("sends no size for a request naming none when the default sizes the task definition (finding 2)", () => {
    // The stack's task definition is sized by the environment's profile (production: large).
    expect(resolveResources({}, "large", true)).toMatchObject({
      cpu: "2048",
      memory: "4096",
      workloadProfile: "large",
      overrideSize: false,
    });
    // Asking for a size, even the default's, is an override.
    expect(resolveResources({ workloadProfile: "large" }, "large", true).overrideSize).toBe(true);
    expect(resolveResources({ cpu: "512", memory: "1024" }, "large", true).overrideSize).toBe(true);
  });

  it.each([20, 201, 50.5])("refuses ephemeral storage %s GiB (21-200 integers only)", (gib) => {
    const error = captureError(() => resolveResources({ ephemeralStorageGib: gib }));
    expect(error.field).toBe("ephemeralStorageGib");
    expect(error.message).toContain("from 21 to 200");
  });

  it("accepts ephemeral storage at both ends of the range", () => {
    expect(resolveResources({ ephemeralStorageGib: 21 }).ephemeralStorageGib).toBe(21);
    expect(resolveResources({ ephemeralStorageGib: 200 }).ephemeralStorageGib).toBe(200);
  });
});

function captureError(fn: () => unknown): InvalidLaunchRequestError {
  try {
    fn();
  } catch (error) {
    return error as InvalidLaunchRequestError;
  }
  throw new Error("expected an error");
}
