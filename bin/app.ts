#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth -c environment=production [-c config=dagy.prod.json]`.
 * Reads context and the CDK_DEFAULT_* variables here, once; everything below gets props.
 */
import { App } from "aws-cdk-lib";
import { ConfigurationError } from "../lib/errors";
import { buildDagyApp } from "../lib/infra/app";

function main(): void {
  const app = new App();
  buildDagyApp(app, {
    defaultEnv: {
      account: process.env.CDK_DEFAULT_ACCOUNT,
      region: process.env.CDK_DEFAULT_REGION,
    },
  });
  app.synth();
}

try {
  main();
} catch (error) {
  if (error instanceof ConfigurationError) {
    console.error(error.message);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
