/**
 * Reading flow artifacts: open and verify the zip, validate `flow_spec.json` and
 * `metadata.json`, and load the flow's bundle. What the worker needs; building is lib/bundler.
 */
export {
  ARTIFACT_LIMITS,
  BUNDLE_ENTRY,
  METADATA_ENTRY,
  SOURCES_DIR,
  SPEC_ENTRY,
  evaluateArtifact,
  loadArtifact,
  openArtifact,
  packArtifact,
  readArtifact,
  type ArtifactContents,
  type LoadArtifactOptions,
  type LoadedArtifact,
  type OpenedArtifact,
} from "./artifact";
export { FlowBuildError } from "./errors";
export { loadFlowBundle, type LoadFlowOptions } from "./loader";
export { artifactMetadataSchema, flowSpecSchema } from "./schema";
export { stableStringify } from "./json";
