#!/usr/bin/env node
// The `dagy` command. In the installed package it runs the compiled CLI (dist/, built when the
// package is packed). In this repository, where the TypeScript sources are, it runs them through
// tsx, so `npx dagy` works right after `npm ci` and never runs a stale dist/.
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");
// Dagy's Lambdas and worker image run Node 22; on a developer's Node 20 the AWS SDK would print
// a multi-line support warning on every command and in every local run log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
if (existsSync(join(__dirname, "dagy.ts"))) {
  require("tsx/cjs/api").register();
  require("./dagy.ts");
} else {
  require("../dist/bin/dagy.js");
}
