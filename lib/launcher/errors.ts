/** Launcher errors live with the shared ones; re-exported here for existing imports. */
export { TaskSubmissionError } from "../errors";

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
