/** Handlers of the schedule routes: list, create or replace, delete. */
import { ValidationError } from "../../errors";
import type { SchedulesService } from "../../services";
import { jsonResponse, parseJsonBody } from "../http";
import {
  API_OWNED_LAUNCH_FIELDS,
  parseWith,
  SCHEDULE_FIELDS,
  scheduleFieldsSchema,
} from "../schemas";
import { scheduleBody } from "../shape";
import { asObject, launchInput, orgQuery, requestedOrg, type HandlerGroup } from "./request";

type ScheduleRoute = "listSchedules" | "putSchedule" | "deleteSchedule";

export function scheduleHandlers(schedules: () => SchedulesService): HandlerGroup<ScheduleRoute> {
  return {
    async listSchedules({ event, caller }) {
      const list = await schedules().list(caller, orgQuery(event));
      return jsonResponse(200, { schedules: list.map(scheduleBody) });
    },

    async putSchedule({ event, caller }) {
      const service = schedules();
      const body = asObject(parseJsonBody(event));
      const fields = parseWith(scheduleFieldsSchema, {
        name: body.name,
        expression: body.expression,
        time_zone: body.time_zone,
        enabled: body.enabled,
        description: body.description,
      });
      const launchFields = Object.fromEntries(
        Object.entries(body).filter(([k]) => !(SCHEDULE_FIELDS as readonly string[]).includes(k)),
      );
      for (const field of [...API_OWNED_LAUNCH_FIELDS, "idempotency_key"]) {
        if (field in launchFields) {
          throw new ValidationError(
            `${field}: not accepted on a schedule (${field === "idempotency_key" ? "each firing carries its own key" : "set by Dagy"})`,
            field,
          );
        }
      }
      const orgId = requestedOrg(launchFields.org_id, orgQuery(event));
      const { orgId: _org, ...launch } = launchInput(launchFields);
      const schedule = await service.create(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: fields.name,
        expression: fields.expression,
        ...(fields.time_zone !== undefined ? { timeZone: fields.time_zone } : {}),
        ...(fields.enabled !== undefined ? { enabled: fields.enabled } : {}),
        ...(fields.description !== undefined ? { description: fields.description } : {}),
        launch,
      });
      return jsonResponse(200, scheduleBody(schedule));
    },

    async deleteSchedule({ event, params, caller }) {
      const name = params.name as string;
      await schedules().delete(caller, name, orgQuery(event));
      return jsonResponse(200, { name, deleted: true });
    },
  };
}
