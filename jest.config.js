/** Tests transpile only; `npm run lint` runs `tsc --noEmit` as its own step. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { isolatedModules: true, diagnostics: false }],
  },
  moduleNameMapper: {
    "^dagy$": "<rootDir>/lib/sdk/index.ts",
    "^dagy/testing$": "<rootDir>/lib/testing/index.ts",
    "^dagy/launcher$": "<rootDir>/lib/launcher/index.ts",
    "^dagy/persistence$": "<rootDir>/lib/persistence/index.ts",
  },
  testTimeout: 60000,
};
