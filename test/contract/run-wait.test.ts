/**
 * `GET /runs/{id}?wait_seconds=N` in the deployed form: the api bundle, invoked with an
 * IAM-authorized HTTP API event, has nothing to wake it but its own timer. A run that stays
 * QUEUED is re-read until the wait is over and then returned as it is; a wait past the limit
 * is refused before anything is read.
 */
import { fixture, useForms, type Step } from "./support/scenario";

interface HttpReply {
  readonly statusCode: number;
  readonly body: string;
}
const replyOf = (step: Step): HttpReply => step.result as HttpReply;
const bodyOf = (step: Step): Record<string, unknown> =>
  JSON.parse(replyOf(step).body) as Record<string, unknown>;

/** The get-run fixture with `wait_seconds` added to its query string. */
function getRunEvent(runId: string, waitSeconds: string): unknown {
  const event = fixture("http-iam-get-run", { RUN_ID: runId }) as Record<string, unknown>;
  return {
    ...event,
    rawQueryString: `org_id=acme-corp&wait_seconds=${waitSeconds}`,
    queryStringParameters: { org_id: "acme-corp", wait_seconds: waitSeconds },
  };
}

const { onBothForms } = useForms();

describe("api: GET /runs/{id}?wait_seconds", () => {
  test("a run that stays QUEUED is answered 200, QUEUED, once a 1-second wait is over", async () => {
    const { bundle } = await onBothForms(async (_form, step) => {
      const launched = await step("api", fixture("http-iam-launch"));
      const runId = String((JSON.parse(replyOf(launched).body) as { run_id: string }).run_id);
      const waited = await step("api", getRunEvent(runId, "1"));
      return { runId, waited };
    });
    const { waited } = bundle as { runId: string; waited: Step };
    expect(replyOf(waited).statusCode).toBe(200);
    expect(bodyOf(waited)).toMatchObject({ status: "QUEUED", flow_name: "etl_pipeline" });
    // Waiting reads the store only: no AWS call beyond DynamoDB.
    expect(waited.aws).toEqual([]);
  });

  test("wait_seconds=99 is a 400 naming wait_seconds", async () => {
    const { bundle } = await onBothForms(async (_form, step) => {
      const launched = await step("api", fixture("http-iam-launch"));
      const runId = String((JSON.parse(replyOf(launched).body) as { run_id: string }).run_id);
      return step("api", getRunEvent(runId, "99"));
    });
    const reply = replyOf(bundle as Step);
    expect(reply.statusCode).toBe(400);
    expect(reply.body).toContain("wait_seconds");
  });
});
