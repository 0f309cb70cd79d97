/** Flows: the org's flows; one flow's versions, each version's DAG and parameters, a launch form. */
import { useState } from "preact/hooks";
import {
  apiGet,
  apiRequest,
  fetchFlowSpec,
  seg,
  type FlowSpec,
  type FlowSummary,
  type FlowVersion,
  type ParameterSpec,
} from "../api";
import { DagView } from "../dag";
import { formatTime, jsonText } from "../format";
import { usePolled } from "../hooks";
import { href, navigate } from "../router";
import { ErrorNote, Loading } from "../widgets";

export function FlowsPage({ org }: { readonly org: string }) {
  const flows = usePolled(() => apiGet<{ flows: FlowSummary[] }>("/flows", { org_id: org }), [org]);
  return (
    <section aria-labelledby="flows-title">
      <h1 id="flows-title">Flows</h1>
      {flows.error && <ErrorNote error={flows.error} />}
      {flows.loading && !flows.data && <Loading what="flows" />}
      {flows.data && flows.data.flows.length === 0 && (
        <p class="empty">No flow is registered for {org}. Register one with `npx dagy register`.</p>
      )}
      {flows.data && flows.data.flows.length > 0 && (
        <div class="table-scroll">
          <table>
            <caption class="visually-hidden">Flows of {org}</caption>
            <thead>
              <tr>
                <th scope="col">Flow</th>
                <th scope="col">Latest version</th>
                <th scope="col">Versions</th>
              </tr>
            </thead>
            <tbody>
              {flows.data.flows.map((f) => (
                <tr key={f.flow_name}>
                  <td>
                    <a href={href.flow(f.flow_name)}>{f.flow_name}</a>
                  </td>
                  <td>{f.latest_version ?? "—"}</td>
                  <td>{f.versions.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function FlowPage({
  org,
  flow,
  search,
}: {
  readonly org: string;
  readonly flow: string;
  readonly search: URLSearchParams;
}) {
  const versions = usePolled(
    () =>
      apiGet<{ versions: FlowVersion[] }>(`/flows/${seg(flow)}/versions`, {
        org_id: org,
      }),
    [org, flow],
  );
  const flows = usePolled(() => apiGet<{ flows: FlowSummary[] }>("/flows", { org_id: org }), [org]);
  const latest = flows.data?.flows.find((f) => f.flow_name === flow)?.latest_version ?? undefined;
  const list = versions.data?.versions ?? [];
  const version =
    search.get("version") ?? latest ?? list[list.length - 1]?.flow_version ?? undefined;
  const spec = usePolled(
    () => (version ? fetchFlowSpec(org, flow, version) : Promise.resolve(undefined)),
    [org, flow, version],
  );
  const flowSpec = spec.data?.flow_spec;

  return (
    <article aria-labelledby="flow-title">
      <p class="crumbs">
        <a href={href.flows()}>Flows</a> /
      </p>
      <h1 id="flow-title">{flow}</h1>
      {versions.error && <ErrorNote error={versions.error} />}
      <div class="two-col">
        <section class="panel" aria-labelledby="versions-title">
          <h2 id="versions-title">Versions</h2>
          {versions.loading && !versions.data && <Loading what="versions" />}
          <ul class="versions">
            {[...list].reverse().map((v) => (
              <li key={v.flow_version}>
                <a
                  href={href.flow(flow, v.flow_version)}
                  aria-current={v.flow_version === version ? "page" : undefined}
                >
                  {v.flow_version}
                </a>{" "}
                {v.flow_version === latest && <span class="tag">latest</span>}{" "}
                <span class="muted">registered {formatTime(v.registered_at)}</span>
                {v.description && <div class="muted">{v.description}</div>}
              </li>
            ))}
          </ul>
        </section>
        <section class="panel" aria-labelledby="launch-title">
          <h2 id="launch-title">Launch {version ?? ""}</h2>
          {version && !spec.loading && (
            <LaunchForm
              key={`${org}/${flow}/${version}`}
              org={org}
              flow={flow}
              version={version}
              spec={flowSpec}
            />
          )}
        </section>
      </div>
      {flowSpec && (
        <>
          <section class="panel" aria-labelledby="spec-dag-title">
            <h2 id="spec-dag-title">DAG of {flowSpec.version}</h2>
            {flowSpec.description && <p>{flowSpec.description}</p>}
            <DagView
              tasks={flowSpec.tasks.map((t) => ({
                id: t.id,
                upstream: t.upstream,
                detail: `${t.task}${t.map ? `.map()${t.map.isolate ? " · isolated" : ""}` : "()"}${
                  t.options?.retries ? ` · ${t.options.retries} retries` : ""
                }`,
                mapped: t.map !== undefined,
              }))}
              label={`Tasks of ${flow} ${flowSpec.version}`}
            />
          </section>
          <section class="panel" aria-labelledby="params-title">
            <h2 id="params-title">Parameters</h2>
            <ParameterTable spec={flowSpec} />
          </section>
        </>
      )}
      {version && !spec.loading && !flowSpec && (
        <p class="muted">This API does not serve flow definitions; the DAG cannot be drawn.</p>
      )}
    </article>
  );
}

function ParameterTable({ spec }: { readonly spec: FlowSpec }) {
  const entries = Object.entries(spec.parameters);
  if (entries.length === 0) return <p class="muted">This flow declares no parameters.</p>;
  return (
    <div class="table-scroll">
      <table class="params">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Required</th>
            <th scope="col">Default</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(([name, p]) => (
            <tr key={name}>
              <th scope="row" class="mono">
                {name}
              </th>
              <td>{p.type ?? "any"}</td>
              <td>{p.required ? "yes" : "no"}</td>
              <td class="mono">{p.default === undefined ? "—" : jsonText(p.default)}</td>
              <td>{p.description ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type FieldValues = Record<string, string | boolean>;

function initialValue(p: ParameterSpec): string | boolean {
  if (p.type === "boolean") return p.default === true;
  if (p.default === undefined) return "";
  return typeof p.default === "string" ? p.default : JSON.stringify(p.default);
}

/** The typed value of one field, or an error message naming the parameter. */
function fieldValue(
  name: string,
  p: ParameterSpec,
  raw: string | boolean,
): { value?: unknown; error?: string } {
  if (p.type === "boolean") return { value: raw === true };
  const text = String(raw);
  if (text.trim() === "") {
    if (p.required) return { error: `${name}: required` };
    return {};
  }
  if (p.type === "string") return { value: text };
  if (p.type === "number" || p.type === "integer") {
    const n = Number(text);
    if (!Number.isFinite(n) || (p.type === "integer" && !Number.isInteger(n))) {
      return { error: `${name}: must be ${p.type === "integer" ? "an integer" : "a number"}` };
    }
    return { value: n };
  }
  try {
    const value: unknown = JSON.parse(text);
    if (p.type === "array" && !Array.isArray(value))
      return { error: `${name}: must be a JSON array` };
    if (
      p.type === "object" &&
      (typeof value !== "object" || value === null || Array.isArray(value))
    ) {
      return { error: `${name}: must be a JSON object` };
    }
    return { value };
  } catch {
    // Untyped parameters take text as it is.
    if (p.type === undefined) return { value: text };
    return { error: `${name}: not valid JSON` };
  }
}

export function LaunchForm({
  org,
  flow,
  version,
  spec,
}: {
  readonly org: string;
  readonly flow: string;
  readonly version: string;
  /** Absent when the API serves no spec: parameters are then one JSON object. */
  readonly spec: FlowSpec | undefined;
}) {
  const declared = Object.entries(spec?.parameters ?? {});
  const [values, setValues] = useState<FieldValues>(() =>
    Object.fromEntries(declared.map(([name, p]) => [name, initialValue(p)])),
  );
  const [rawJson, setRawJson] = useState("{}");
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const errors: string[] = [];
    let parameters: Record<string, unknown> = {};
    if (spec) {
      for (const [name, p] of declared) {
        const result = fieldValue(name, p, values[name] ?? "");
        if (result.error) errors.push(result.error);
        else if ("value" in result) parameters[name] = result.value;
      }
    } else {
      try {
        const parsed: unknown = JSON.parse(rawJson || "{}");
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          errors.push("parameters: must be a JSON object");
        } else parameters = parsed as Record<string, unknown>;
      } catch {
        errors.push("parameters: not valid JSON");
      }
    }
    setProblems(errors);
    if (errors.length > 0) return;
    setBusy(true);
    try {
      const result = await apiRequest<{ run_id: string; success: boolean; error?: string }>(
        "POST",
        `/flows/${seg(flow)}/runs`,
        { body: { org_id: org, flow_version: version, parameters } },
      );
      if (result.run_id) navigate(href.run(result.run_id));
      else setProblems([result.error ?? "Launch failed"]);
    } catch (error) {
      setProblems([(error as Error).message]);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="launch" onSubmit={(e) => void submit(e)} aria-label={`Launch ${flow} ${version}`}>
      {spec && declared.length === 0 && <p class="muted">No parameters to set.</p>}
      {declared.map(([name, p]) => {
        const id = `param-${name}`;
        const hint = [p.type ?? "any", p.required ? "required" : "optional", p.description]
          .filter(Boolean)
          .join(" · ");
        const value = values[name];
        const set = (v: string | boolean) => setValues((s) => ({ ...s, [name]: v }));
        return (
          <div class="field" key={name}>
            {p.type === "boolean" ? (
              <label class="inline" for={id}>
                <input
                  id={id}
                  type="checkbox"
                  checked={value === true}
                  onChange={(e) => set((e.target as HTMLInputElement).checked)}
                />
                {name}
              </label>
            ) : (
              <label for={id}>{name}</label>
            )}
            {p.type !== "boolean" &&
              (p.type === "object" || p.type === "array" ? (
                <textarea
                  id={id}
                  rows={3}
                  class="mono"
                  value={String(value ?? "")}
                  required={p.required}
                  aria-describedby={`${id}-hint`}
                  onInput={(e) => set((e.target as HTMLTextAreaElement).value)}
                />
              ) : p.type === "number" || p.type === "integer" ? (
                <input
                  id={id}
                  type="number"
                  step={p.type === "integer" ? 1 : "any"}
                  value={String(value ?? "")}
                  required={p.required}
                  aria-describedby={`${id}-hint`}
                  onInput={(e) => set((e.target as HTMLInputElement).value)}
                />
              ) : (
                <input
                  id={id}
                  type="text"
                  value={String(value ?? "")}
                  required={p.required}
                  aria-describedby={`${id}-hint`}
                  onInput={(e) => set((e.target as HTMLInputElement).value)}
                />
              ))}
            <small id={`${id}-hint`} class="muted">
              {hint}
            </small>
          </div>
        );
      })}
      {!spec && (
        <div class="field">
          <label for="param-json">Parameters (JSON object)</label>
          <textarea
            id="param-json"
            rows={4}
            class="mono"
            value={rawJson}
            onInput={(e) => setRawJson((e.target as HTMLTextAreaElement).value)}
          />
        </div>
      )}
      {problems.length > 0 && (
        <ul class="error-note" role="alert">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Launching…" : `Launch ${flow}`}
      </button>
    </form>
  );
}
