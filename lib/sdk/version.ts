// A named import lets esbuild keep only `version` when a flow bundle inlines the SDK.
import { version } from "../../package.json";

/** Version of the SDK, recorded in each artifact's `metadata.json`. */
export const SDK_VERSION: string = version;
