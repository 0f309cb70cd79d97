#!/usr/bin/env node
// The `dagy` command. It runs the TypeScript CLI through tsx so `npx dagy` works right after
// `npm ci`, with no build step.
"use strict";
require("tsx/cjs/api").register();
require("./dagy.ts");
