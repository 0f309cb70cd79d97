/**
 * Client-side routes under `/console/`, with real URLs (history API) so every page — a run
 * above all — is a link that can be shared. The server answers index.html for any of them.
 */
import { useEffect, useState } from "preact/hooks";

export const BASE = "/console";

export type Route =
  | { readonly page: "runs" }
  | { readonly page: "run"; readonly runId: string }
  | { readonly page: "flows" }
  | { readonly page: "flow"; readonly flow: string }
  | { readonly page: "schedules" }
  | { readonly page: "notFound"; readonly path: string };

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = rest
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [first, second] = parts;
  if (parts.length === 0 || (first === "runs" && parts.length === 1)) return { page: "runs" };
  if (first === "runs" && second !== undefined && parts.length === 2) {
    return { page: "run", runId: second };
  }
  if (first === "flows" && parts.length === 1) return { page: "flows" };
  if (first === "flows" && second !== undefined && parts.length === 2) {
    return { page: "flow", flow: second };
  }
  if (first === "schedules" && parts.length === 1) return { page: "schedules" };
  return { page: "notFound", path: pathname };
}

export const href = {
  runs: () => `${BASE}/`,
  run: (runId: string) => `${BASE}/runs/${encodeURIComponent(runId)}`,
  flows: () => `${BASE}/flows`,
  flow: (flow: string, version?: string) =>
    `${BASE}/flows/${encodeURIComponent(flow)}${version ? `?version=${encodeURIComponent(version)}` : ""}`,
  schedules: () => `${BASE}/schedules`,
};

const CHANGE = "dagy:navigate";

/** Goes to `to` (path and query) without reloading; `replace` for filter changes. */
export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
  if (!replace) window.scrollTo(0, 0);
}

/** The current location; re-renders on navigation and on back/forward. */
export function useLocation(): { readonly pathname: string; readonly search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((t) => t + 1);
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return { pathname: location.pathname, search: new URLSearchParams(location.search) };
}

/** Sets query parameters of the current page (empty values removed), replacing history. */
export function setQuery(changes: Readonly<Record<string, string | undefined>>): void {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === "") params.delete(key);
    else params.set(key, value);
  }
  const text = params.toString();
  navigate(`${location.pathname}${text ? `?${text}` : ""}`, true);
}

/** Plain left clicks on in-console links navigate in place; others behave as links do. */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest?.("a");
  if (!anchor || anchor.target === "_blank" || anchor.hasAttribute("download")) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(`${BASE}/`)) return;
  // In-page anchors (the skip link) keep their default behaviour.
  if (url.hash !== "" && url.pathname === location.pathname) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}
