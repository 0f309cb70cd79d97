/**
 * Where a run's succeeded tasks' outputs are kept (`task_outputs`: task id -> TaskOutputRef),
 * written beside the run's item in the runs table, at most MAX_TASK_STATES_PER_UPDATE entries
 * per UpdateItem. The map is created by the first write that needs it.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { isValidationException } from "./internal";
import type { TaskOutputRef } from "./records";
import { MAX_TASK_STATES_PER_UPDATE } from "./task-states";
import { validateRunId } from "../identifiers";

/** Writes where succeeded tasks' outputs are kept (one UpdateItem per 100 tasks). */
export async function recordTaskOutputs(
  doc: DynamoDBDocumentClient,
  tableName: string,
  runId: string,
  outputs: Readonly<Record<string, TaskOutputRef>>,
): Promise<void> {
  validateRunId(runId);
  const entries = Object.entries(outputs);
  for (let start = 0; start < entries.length; start += MAX_TASK_STATES_PER_UPDATE) {
    const names: Record<string, string> = { "#o": "task_outputs", "#org": "org_id" };
    const values: Record<string, unknown> = {};
    const sets = entries.slice(start, start + MAX_TASK_STATES_PER_UPDATE).map(([id, ref], i) => {
      names[`#t${i}`] = id;
      values[`:t${i}`] = ref;
      return `#o.#t${i} = :t${i}`;
    });
    const send = (
      expression: string,
      vals: Record<string, unknown>,
      attributeNames: Record<string, string> = names,
    ) =>
      doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { run_id: runId },
          UpdateExpression: expression,
          ConditionExpression: "attribute_exists(#org)",
          ExpressionAttributeNames: attributeNames,
          ExpressionAttributeValues: vals,
        }),
      );
    try {
      await send(`SET ${sets.join(", ")}`, values);
    } catch (error) {
      if (
        !isValidationException(error, "document path provided in the update expression is invalid")
      ) {
        throw error;
      }
      // The first outputs of this run: create the map, then set them.
      await send(
        "SET #o = if_not_exists(#o, :empty)",
        { ":empty": {} },
        { "#o": "task_outputs", "#org": "org_id" },
      );
      await send(`SET ${sets.join(", ")}`, values);
    }
  }
}
