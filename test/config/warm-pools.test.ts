/** DAGY_WARM_POOLS and its companions in the one runtime configuration. */
import { ENTRY_POINT_VARIABLES, parseRuntimeConfig } from "../../lib/config/runtime";

const BASE = {
  DAGY_COMPUTE_BACKEND: "local",
  DAGY_FLOWS_TABLE: "f",
  DAGY_RUNS_TABLE: "r",
  DAGY_DEPLOYMENTS_TABLE: "d",
  DAGY_DEP_PACKAGES_TABLE: "p",
  DAGY_ARTIFACT_BUCKET: "a",
  DAGY_TRACES_BUCKET: "t",
  DAGY_ENVIRONMENT: "develop",
};
const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-small";
const FALLBACK = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-fallback";
const POOLS = JSON.stringify([{ pool: "small", queue_url: QUEUE, cpu: "256", memory: "512" }]);

describe("warm pool configuration", () => {
  test("the launch function reads its pools, the pool table and the fallback queue", () => {
    const config = parseRuntimeConfig(
      {
        ...BASE,
        DAGY_WARM_POOLS: POOLS,
        DAGY_WARM_POOL_TABLE: "dagy-develop-warm-pools",
        DAGY_WARM_FALLBACK_QUEUE_URL: FALLBACK,
      },
      "launch",
    );
    expect(config.warm).toEqual({
      pools: [{ pool: "small", queueUrl: QUEUE, cpu: "256", memory: "512" }],
      poolTable: "dagy-develop-warm-pools",
      fallbackQueueUrl: FALLBACK,
    });
  });

  test("unset: no pools, every launch cold", () => {
    expect(parseRuntimeConfig(BASE, "launch").warm).toEqual({ pools: [] });
  });

  test.each([
    ["not JSON", "[{", /DAGY_WARM_POOLS must be JSON/],
    ["not an array", '{"pool":"small"}', /DAGY_WARM_POOLS must be a JSON array/],
    [
      "an invalid Fargate size",
      JSON.stringify([{ pool: "small", queue_url: QUEUE, cpu: "256", memory: "4096" }]),
      /DAGY_WARM_POOLS\[0\]\.cpu and \.memory must be strings forming a valid Fargate size/,
    ],
    [
      "a number for cpu",
      JSON.stringify([{ pool: "small", queue_url: QUEUE, cpu: 256, memory: "512" }]),
      /DAGY_WARM_POOLS\[0\]\.cpu/,
    ],
    [
      "a bad queue URL",
      JSON.stringify([{ pool: "small", queue_url: "sqs://x", cpu: "256", memory: "512" }]),
      /DAGY_WARM_POOLS\[0\]\.queue_url/,
    ],
    [
      "a pool listed twice",
      JSON.stringify([
        { pool: "small", queue_url: QUEUE, cpu: "256", memory: "512" },
        { pool: "small", queue_url: QUEUE, cpu: "256", memory: "1024" },
      ]),
      /DAGY_WARM_POOLS\[1\]\.pool "small" is listed twice/,
    ],
    [
      "an unknown field",
      JSON.stringify([{ pool: "small", queue_url: QUEUE, cpu: "256", memory: "512", size: 2 }]),
      /DAGY_WARM_POOLS\[0\] has unknown field\(s\) size/,
    ],
  ])("refused with the variable named: %s", (_name, value, message) => {
    expect(() =>
      parseRuntimeConfig(
        {
          ...BASE,
          DAGY_WARM_POOLS: value,
          DAGY_WARM_POOL_TABLE: "t",
          DAGY_WARM_FALLBACK_QUEUE_URL: FALLBACK,
        },
        "launch",
      ),
    ).toThrow(message);
  });

  test("pools without their table and fallback queue are refused, naming both", () => {
    expect(() => parseRuntimeConfig({ ...BASE, DAGY_WARM_POOLS: POOLS }, "api")).toThrow(
      /DAGY_WARM_POOLS needs DAGY_WARM_POOL_TABLE and DAGY_WARM_FALLBACK_QUEUE_URL set/,
    );
  });

  test("only the functions that start first attempts read them; the fallback reads the launcher's", () => {
    const reads = (entry: keyof typeof ENTRY_POINT_VARIABLES): string[] => {
      const v = ENTRY_POINT_VARIABLES[entry];
      return [...v.required, ...v.ecsOnly, ...v.optional];
    };
    for (const entry of ["api", "launch"] as const) {
      expect(reads(entry)).toEqual(
        expect.arrayContaining([
          "DAGY_WARM_POOLS",
          "DAGY_WARM_POOL_TABLE",
          "DAGY_WARM_FALLBACK_QUEUE_URL",
        ]),
      );
    }
    for (const entry of ["task-events", "reconcile", "warm-fallback"] as const) {
      expect(reads(entry).filter((n) => n.startsWith("DAGY_WARM_"))).toEqual([]);
    }
    expect(ENTRY_POINT_VARIABLES["warm-fallback"]).toEqual(ENTRY_POINT_VARIABLES["task-events"]);
  });
});
