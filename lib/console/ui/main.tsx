/** The console's entry point: the page frame, the org it acts for, and the routes. */
import "./styles.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { FlowPage, FlowsPage } from "./pages/flows";
import { RunPage } from "./pages/run";
import { RunsPage } from "./pages/runs";
import { SchedulesPage } from "./pages/schedules";
import { href, onLinkClick, parseRoute, setQuery, useLocation } from "./router";

const ORG_KEY = "dagy.console.org";

/** The org: `?org=` in the URL, else the last one used here, else the platform's default. */
function initialOrg(): string {
  const fromUrl = new URLSearchParams(location.search).get("org");
  if (fromUrl) return fromUrl;
  try {
    const stored = localStorage.getItem(ORG_KEY);
    if (stored) return stored;
  } catch {
    // Storage may be disabled; the default below still works.
  }
  return document.querySelector<HTMLMetaElement>('meta[name="dagy-org"]')?.content ?? "";
}

function OrgPicker({
  org,
  onChange,
}: {
  readonly org: string;
  readonly onChange: (o: string) => void;
}) {
  const [draft, setDraft] = useState(org);
  useEffect(() => setDraft(org), [org]);
  return (
    <form
      class="org"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(draft.trim());
      }}
    >
      <label for="org-input">Org</label>
      <input
        id="org-input"
        value={draft}
        size={14}
        autocomplete="off"
        spellcheck={false}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        onBlur={() => draft.trim() !== org && onChange(draft.trim())}
      />
    </form>
  );
}

function App() {
  const { pathname, search } = useLocation();
  const [org, setOrg] = useState(initialOrg);
  const route = parseRoute(pathname);
  const changeOrg = (next: string) => {
    setOrg(next);
    try {
      localStorage.setItem(ORG_KEY, next);
    } catch {
      // Not remembered; the URL still carries it.
    }
    if (new URLSearchParams(location.search).has("org")) setQuery({ org: next });
  };
  const section = route.page === "run" ? "runs" : route.page === "flow" ? "flows" : route.page;

  useEffect(() => {
    if (route.page !== "run") {
      const names = {
        runs: "Runs",
        flows: "Flows",
        flow: "Flow",
        schedules: "Schedules",
        notFound: "Not found",
      };
      document.title = `${names[route.page]} · Dagy`;
    }
  }, [route.page]);

  const nav = (to: string, name: string, key: string) => (
    <a href={to} aria-current={section === key ? "page" : undefined}>
      {name}
    </a>
  );

  return (
    <div class="app" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href.runs()}>
          Dagy
        </a>
        <nav aria-label="Console">
          {nav(href.runs(), "Runs", "runs")}
          {nav(href.flows(), "Flows", "flows")}
          {nav(href.schedules(), "Schedules", "schedules")}
        </nav>
        <OrgPicker org={org} onChange={changeOrg} />
      </header>
      <main id="main" tabIndex={-1}>
        {org === "" && route.page !== "run" ? (
          <p class="error-note">Enter the org to show (for example acme-corp) above.</p>
        ) : route.page === "runs" ? (
          <RunsPage org={org} search={search} />
        ) : route.page === "run" ? (
          <RunPage key={route.runId} runId={route.runId} search={search} />
        ) : route.page === "flows" ? (
          <FlowsPage org={org} />
        ) : route.page === "flow" ? (
          <FlowPage key={route.flow} org={org} flow={route.flow} search={search} />
        ) : route.page === "schedules" ? (
          <SchedulesPage org={org} />
        ) : (
          <section>
            <h1>Not found</h1>
            <p>
              Nothing lives at {route.path}. <a href={href.runs()}>Go to the runs</a>.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
