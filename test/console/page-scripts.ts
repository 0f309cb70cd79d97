/**
 * Code that runs inside the page, as source text: the test programs are type-checked for Node
 * (no DOM library), the page has its own globals.
 */

/** Records every state each DAG node shows, from the first paint on, in `window.__seen`. */
export const RECORD_TASK_STATES = `
  window.__seen = {};
  const record = () => {
    for (const node of document.querySelectorAll(".dag-node")) {
      const id = node.dataset.taskId || "";
      const status = node.dataset.status || "";
      const list = (window.__seen[id] = window.__seen[id] || []);
      if (list[list.length - 1] !== status) list.push(status);
    }
  };
  new MutationObserver(record).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"],
  });
`;

export const SEEN_TASK_STATES = "window.__seen";

export const taskQueryIs = (taskId: string) =>
  `new URL(location.href).searchParams.get("task") === ${JSON.stringify(taskId)}`;

/** Form controls with neither a <label> nor an aria-label, as HTML. */
export const UNLABELLED_CONTROLS = `
  [...document.querySelectorAll("input, select, textarea")]
    .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
    .map((el) => el.outerHTML)
`;

/** How many pixels the page is wider than the window (0: no sideways scrolling). */
export const HORIZONTAL_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth";

/** Records every distinct counts line each mapped DAG node shows, in `window.__mapCounts`. */
export const RECORD_MAP_COUNTS = `
  window.__mapCounts = {};
  const recordCounts = () => {
    for (const node of document.querySelectorAll(".dag-node[data-mapped]")) {
      const id = node.dataset.taskId || "";
      const text = (node.querySelector(".dag-state") || {}).textContent || "";
      const list = (window.__mapCounts[id] = window.__mapCounts[id] || []);
      if (list[list.length - 1] !== text) list.push(text);
    }
  };
  new MutationObserver(recordCounts).observe(document, {
    subtree: true, childList: true, characterData: true,
  });
`;

export const SEEN_MAP_COUNTS = "window.__mapCounts";
