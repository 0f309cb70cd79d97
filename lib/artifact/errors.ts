import { DagDefinitionError } from "../errors";

/**
 * A flow could not be built or loaded: esbuild rejected the source, the module threw while
 * loading, or it did not define exactly one DAG. `file` is the flow source (or bundle) at fault;
 * the message names it and says what to change.
 */
export class FlowBuildError extends DagDefinitionError {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}
