/**
 * The parts of the CloudWatch Logs client the worker uses, behind one module that the worker
 * imports lazily (only when log shipping is on). Importing the client package itself
 * dynamically would keep all of its commands in the worker bundle: a dynamic import needs the
 * whole module namespace, so esbuild cannot tree-shake it. Through this module it can.
 */
export {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
