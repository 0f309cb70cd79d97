/** Building flow artifacts (`dagy build`) and loading flows from source or artifacts. */
export {
  ARTIFACT_LIMITS,
  METADATA_ENTRY,
  SPEC_ENTRY,
  buildFlow,
  loadArtifact,
  readArtifact,
  sha256Hex,
  type ArtifactContents,
  type BuildFlowOptions,
  type BuildFlowResult,
  type LoadArtifactOptions,
  type LoadedArtifact,
} from "./artifact";
export { BUNDLE_ENTRY, HOST_MODULES, bundleFlow, findProjectRoot, type FlowBundle } from "./bundle";
export { FlowBuildError } from "./errors";
export { loadFlowBundle, loadFlowSource, type LoadFlowOptions } from "./loader";
export { artifactMetadataSchema, flowSpecSchema } from "./schema";
export { stableStringify } from "./json";
