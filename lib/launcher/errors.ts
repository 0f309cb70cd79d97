/** Launcher errors live with the shared ones; re-exported here for existing imports. */
export { TaskSubmissionError } from "../errors";
