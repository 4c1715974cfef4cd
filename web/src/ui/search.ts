// Search (GET /api/v1/search?q=&project_id=): input[name=search], hits in
// [data-testid=search-results] as [data-testid=search-hit][data-key]; a hit opens its card.

import type { Rest, SearchHit } from "../net/rest";
import type { Store } from "../store";
import { h, replaceChildren } from "../util/dom";

/** The snippet with its **matched words** in bold, as text nodes. */
function snippet(text: string): HTMLElement {
  const out = h("span", { class: "hit-snippet" });
  text.split("**").forEach((part, index) => {
    if (!part) return;
    out.appendChild(index % 2 === 1 ? h("mark", { text: part }) : document.createTextNode(part));
  });
  return out;
}

export function mountSearch(
  root: HTMLElement,
  store: Store,
  rest: Rest,
  openHit: (hit: SearchHit) => void,
): void {
  const input = h("input", {
    attrs: { name: "search", type: "search", placeholder: "Search this project…", "aria-label": "Search", autocomplete: "off", maxlength: 500 },
    data: { testid: "search" },
  });
  const results = h("div", { class: "search-results", data: { testid: "search-results" }, hidden: true, attrs: { role: "listbox" } });
  root.append(input, results);
  let timer: number | undefined;
  let generation = 0;

  const close = (): void => {
    results.hidden = true;
  };

  const run = async (): Promise<void> => {
    const q = input.value.trim();
    const mine = ++generation;
    if (!q) {
      close();
      return;
    }
    results.hidden = false;
    results.dataset.state = "loading";
    let hits: SearchHit[];
    try {
      hits = await rest.search(q, store.board?.id ?? "");
    } catch (error) {
      if (mine !== generation) return;
      results.dataset.state = "error";
      replaceChildren(results, h("div", { class: "hit-empty", text: `Search failed: ${(error as Error).message}` }));
      return;
    }
    if (mine !== generation) return;
    results.dataset.state = "done";
    results.dataset.count = String(hits.length);
    if (hits.length === 0) {
      replaceChildren(results, h("div", { class: "hit-empty", text: "Nothing found." }));
      return;
    }
    replaceChildren(
      results,
      ...hits.map((hit) =>
        h(
          "button",
          {
            class: "search-hit",
            attrs: { type: "button", role: "option" },
            data: { testid: "search-hit", key: hit.key, kind: hit.kind, itemId: hit.itemId },
            on: {
              click: () => {
                close();
                openHit(hit);
              },
            },
          },
          h("span", { class: "hit-key", text: hit.key }),
          h("span", { class: "hit-title", text: hit.title }),
          hit.kind === "comment" ? h("span", { class: "hit-kind", text: "comment" }) : null,
          snippet(hit.snippet),
        ),
      ),
    );
  };

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void run(), 250);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      window.clearTimeout(timer);
      void run();
    } else if (event.key === "Escape") {
      close();
    }
  });
  document.addEventListener("click", (event) => {
    if (event.target instanceof Node && !root.contains(event.target)) close();
  });
  store.on("board", () => {
    input.placeholder = store.board ? `Search ${store.board.project.key}…` : "Search all projects…";
  });
}
