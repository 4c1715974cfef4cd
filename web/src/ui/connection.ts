// The connection indicator: [data-testid=connection][data-state=online|offline|connecting].

import { replaceChildren, h } from "../util/dom";
import type { Store } from "../store";

const LABELS = { online: "Live", connecting: "Connecting…", offline: "Offline" } as const;

export function mountConnection(root: HTMLElement, store: Store): void {
  const render = (): void => {
    const { state, detail } = store.connection;
    root.dataset.state = state;
    root.title = detail ? `${LABELS[state]} (${detail})` : LABELS[state];
    replaceChildren(
      root,
      h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
      h("span", { class: "label", text: LABELS[state] }),
      detail && state !== "online" ? h("span", { class: "detail", text: detail }) : null,
    );
  };
  store.on("connection", render);
  render();
}
