/** PutEvents through an EventBridge client: what `createRunStatusAnnouncer` calls in AWS. */
import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsCommandInput,
  type PutEventsCommandOutput,
} from "@aws-sdk/client-eventbridge";

export function putEventsWith(
  client: Pick<EventBridgeClient, "send">,
): (input: PutEventsCommandInput) => Promise<PutEventsCommandOutput> {
  return (input) => client.send(new PutEventsCommand(input));
}

export { EventBridgeClient } from "@aws-sdk/client-eventbridge";
