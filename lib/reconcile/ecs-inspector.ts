/** TaskInspector over ECS DescribeTasks (at most 100 tasks per call, as ECS allows). */
import { DescribeTasksCommand, StopTaskCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { WORKER_CONTAINER_NAME } from "../config/worker-container";
import type { TaskInspector, TaskObservation } from "./types";

export const DESCRIBE_TASKS_BATCH = 100;

export class EcsTaskInspector implements TaskInspector {
  constructor(
    private readonly ecs: ECSClient,
    private readonly cluster: string,
    private readonly workerContainer: string = WORKER_CONTAINER_NAME,
  ) {}

  owns(taskArn: string): boolean {
    return taskArn.startsWith("arn:");
  }

  async stop(taskArn: string, reason: string): Promise<void> {
    await this.ecs.send(
      new StopTaskCommand({ cluster: this.cluster, task: taskArn, reason: reason.slice(0, 255) }),
    );
  }

  async describe(taskArns: readonly string[]): Promise<Map<string, TaskObservation>> {
    const result = new Map<string, TaskObservation>();
    const unique = [...new Set(taskArns)];
    for (let i = 0; i < unique.length; i += DESCRIBE_TASKS_BATCH) {
      const out = await this.ecs.send(
        new DescribeTasksCommand({
          cluster: this.cluster,
          tasks: unique.slice(i, i + DESCRIBE_TASKS_BATCH),
        }),
      );
      for (const task of out.tasks ?? []) {
        if (!task.taskArn) continue;
        if (task.lastStatus !== "STOPPED") {
          result.set(task.taskArn, {
            state: "active",
            lastStatus: task.lastStatus ?? "UNKNOWN",
            ...(task.createdAt !== undefined ? { createdAt: task.createdAt.toISOString() } : {}),
          });
          continue;
        }
        const containers = task.containers ?? [];
        const worker =
          containers.find((c) => c.name === this.workerContainer) ??
          containers.find((c) => c.exitCode !== undefined || c.reason !== undefined);
        result.set(task.taskArn, {
          state: "stopped",
          ...(task.stopCode !== undefined ? { stopCode: task.stopCode } : {}),
          ...(task.stoppedReason !== undefined ? { stoppedReason: task.stoppedReason } : {}),
          ...(worker?.exitCode !== undefined ? { exitCode: worker.exitCode } : {}),
          ...(worker?.reason !== undefined ? { containerReason: worker.reason } : {}),
        });
      }
      for (const failure of out.failures ?? []) {
        // Only MISSING proves the task is gone; other failures (e.g. access) say nothing.
        if (failure.arn && failure.reason === "MISSING") {
          result.set(failure.arn, {
            state: "missing",
            reason: `DescribeTasks: ${failure.reason}${failure.detail ? ` (${failure.detail})` : ""}`,
          });
        }
      }
    }
    return result;
  }
}
