// `prepare`: builds the package (npm run build) only when npm prepares this repository as a
// git dependency of another project (the project npm was started in, INIT_CWD, is not this
// one). In this repository `npm ci` also runs `prepare`, and there it does nothing: `npm ci`
// stays fast and offline, and the CLI runs the TypeScript sources (bin/dagy.js).
"use strict";
const { execSync } = require("node:child_process");
const path = require("node:path");

const here = path.resolve(__dirname, "..");
const initCwd = process.env.INIT_CWD ? path.resolve(process.env.INIT_CWD) : here;
if (initCwd !== here) {
  execSync("npm run build", { cwd: here, stdio: "inherit" });
}
