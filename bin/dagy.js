#!/usr/bin/env node
// The `dagy` command. It runs the TypeScript CLI through tsx so `npx dagy` works right after
// `npm ci`, with no build step.
"use strict";
// Dagy's Lambdas and worker image run Node 22; on a developer's Node 20 the AWS SDK would print
// a multi-line support warning on every command and in every local run log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
require("tsx/cjs/api").register();
require("./dagy.ts");
