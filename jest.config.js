/**
 * Tests transpile only (ts-jest transpiles each file alone because tsconfig.json sets
 * `isolatedModules`); `npm run lint` runs `tsc --noEmit` as its own step.
 */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
  setupFiles: ["<rootDir>/test/support/setup-env.ts"],
  moduleNameMapper: {
    "^dagy$": "<rootDir>/lib/sdk/index.ts",
    "^dagy/testing$": "<rootDir>/lib/testing/index.ts",
    "^dagy/launcher$": "<rootDir>/lib/launcher/index.ts",
    "^dagy/persistence$": "<rootDir>/lib/persistence/index.ts",
  },
  testTimeout: 60000,
};
