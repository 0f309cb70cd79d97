export * from "./s3-uri";
export * from "./keys";
export * from "./object-store";
export * from "./archive";
export { sha256Hex } from "../hash";
