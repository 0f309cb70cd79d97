import { DagDefinitionError } from "../errors";
import type { MapOptions } from "./task";
import { isTaskRef } from "./task";
import type { MapSpec } from "./types";

/**
 * The `map` marker of `task.map(list, options)` as `flow_spec.json` writes it: where the list
 * comes from and the options in snake_case. `options` are already validated; `where` names the
 * DAG and task in messages.
 */
export function mapSpecOf(where: string, list: unknown, options: MapOptions): MapSpec {
  let over: MapSpec["over"];
  if (isTaskRef(list)) over = { task: list.taskId };
  else if (Array.isArray(list)) over = { length: list.length };
  else {
    throw new DagDefinitionError(
      `${where}: map() takes an array or a reference to a task's array output, got ` +
        `${list === null ? "null" : typeof list}`,
    );
  }
  return Object.freeze({
    over: Object.freeze(over),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.isolate === true ||
    options.itemsPerChild !== undefined ||
    options.workloadProfile !== undefined
      ? { isolate: true }
      : options.isolate === false
        ? { isolate: false }
        : {}),
    ...(options.itemsPerChild === undefined ? {} : { items_per_child: options.itemsPerChild }),
    ...(options.workloadProfile === undefined ? {} : { workload_profile: options.workloadProfile }),
    ...(options.toleratedFailureCount === undefined
      ? {}
      : { tolerated_failure_count: options.toleratedFailureCount }),
    ...(options.toleratedFailurePercentage === undefined
      ? {}
      : { tolerated_failure_percentage: options.toleratedFailurePercentage }),
  });
}
