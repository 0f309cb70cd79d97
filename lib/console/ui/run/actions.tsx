/** The run page's header actions (cancel with confirmation, re-run) and a failed run's traceback. */
import { useState } from "preact/hooks";
import { ApiError, apiGet, apiRequest, isTerminal, seg, type RunDetail } from "../api";
import { usePolled } from "../hooks";
import { href, navigate } from "../router";
import { STATUS_SYMBOL } from "../status";
import { ErrorNote, Loading } from "../widgets";

export function RunActions({
  run,
  onChange,
}: {
  readonly run: RunDetail;
  readonly onChange: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const canCancel = !isTerminal(run.status) && !run.cancel_requested;
  const canRerun = (run.actions ?? []).includes("rerun");

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  const cancel = () =>
    act(async () => {
      await apiRequest("POST", `/runs/${seg(run.run_id)}/cancel`, {
        body: { reason: "Cancelled from the console" },
      });
      onChange();
    });
  const rerun = () =>
    act(async () => {
      const body = await apiRequest<{ run_id: string }>("POST", `/runs/${seg(run.run_id)}/rerun`, {
        body: {},
      });
      navigate(href.run(body.run_id));
    });

  return (
    <div class="actions">
      {canCancel && !confirming && (
        <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
          Cancel run…
        </button>
      )}
      {canCancel && confirming && (
        <span role="group" aria-label="Confirm cancellation" class="confirm">
          <span>Cancel this run?</span>
          <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
            Yes, cancel run
          </button>
          <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
            Keep running
          </button>
        </span>
      )}
      {canRerun && (
        <button type="button" disabled={busy} onClick={() => void rerun()}>
          Re-run
        </button>
      )}
      {error && <ErrorNote error={error} />}
    </div>
  );
}

export function Traceback({ run }: { readonly run: RunDetail }) {
  const traceback = usePolled(async () => {
    try {
      return await apiGet<{ traceback: string }>(`/runs/${seg(run.run_id)}/traceback`, {
        org_id: run.org_id,
      });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        return undefined;
      }
      throw error;
    }
  }, [run.run_id, run.org_id]);
  const failedTasks = Object.entries(run.task_states ?? {}).filter(
    ([, s]) => s.status === "FAILED" && s.error,
  );
  return (
    <section class="panel failure" aria-labelledby="failure-title">
      <h2 id="failure-title">
        <span aria-hidden="true">{STATUS_SYMBOL.FAILED} </span>Why it failed
      </h2>
      {run.error_message && <p class="failure-message">{run.error_message}</p>}
      {failedTasks.map(([id, s]) => (
        <p key={id}>
          Task <strong>{id}</strong>: {s.error}
        </p>
      ))}
      {traceback.data?.traceback ? (
        <pre class="traceback" tabIndex={0} aria-label="Traceback">
          {traceback.data.traceback}
        </pre>
      ) : traceback.loading ? (
        <Loading what="the traceback" />
      ) : (
        <p class="muted">No traceback was stored for this run.</p>
      )}
      {traceback.error && <ErrorNote error={traceback.error} what="Traceback" />}
    </section>
  );
}
