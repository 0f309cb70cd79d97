/**
 * Build tooling (`dagy build`): esbuild bundles a flow and its npm imports, and the bundle is
 * packed into an artifact. Used by the CLI and the stack, never by the worker.
 */
export { buildFlow, type BuildFlowOptions, type BuildFlowResult } from "./build";
export { HOST_MODULES, bundleFlow, findProjectRoot, resolveEntry, type FlowBundle } from "./bundle";
export { loadFlowSource } from "./source";
export { typecheckFlow, DEFAULT_TYPECHECK_OPTIONS, type TypecheckResult } from "./typecheck";
