/**
 * Runs before every test file (jest.config.js `setupFiles`). The Lambdas and the worker image run
 * Node 22; on a developer's Node 20 the AWS SDK prints a multi-line support warning once per test
 * file (each has its own module registry), burying what matters. bin/dagy.js and LocalBackend's
 * workers set the same variable.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
