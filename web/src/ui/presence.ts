// Who is on this board and which card each is viewing:
// [data-testid=presence] > [data-testid=presence-user][data-user-id][data-viewing=<key>].

import { h, replaceChildren } from "../util/dom";
import type { Store } from "../store";

export function mountPresence(root: HTMLElement, store: Store): void {
  const render = (): void => {
    const board = store.board;
    if (!board) {
      replaceChildren(root);
      root.dataset.count = "0";
      return;
    }
    const view = board.view();
    const entries = store.presence
      .entries(board.id)
      .slice()
      .sort((a, b) => store.users.name(a.userId).localeCompare(store.users.name(b.userId)));
    root.dataset.count = String(entries.length);
    replaceChildren(
      root,
      h("span", { class: "presence-label", text: entries.length ? "Here:" : "" }),
      ...entries.map((entry) => {
        const item = entry.viewingWorkItemId ? view.items.get(entry.viewingWorkItemId) : undefined;
        const name = store.users.name(entry.userId);
        const viewing = entry.viewingWorkItemId ? item?.key || "a deleted card" : "";
        return h(
          "span",
          {
            class: "presence-user" + (entry.userId === store.userId ? " me" : ""),
            data: {
              testid: "presence-user",
              userId: entry.userId,
              viewing: viewing || null,
              viewingId: entry.viewingWorkItemId || null,
              connections: entry.connections,
            },
            attrs: { title: viewing ? `${name} is viewing ${viewing}` : `${name} is on the board` },
          },
          h("span", { class: "avatar", text: initials(name), attrs: { "aria-hidden": "true" } }),
          h("span", { class: "presence-name", text: name }),
          viewing ? h("span", { class: "presence-viewing", text: `viewing ${viewing}` }) : null,
        );
      }),
    );
  };
  store.on("presence", render);
  store.on("users", render);
  store.on("board", render);
  render();
}

export function initials(name: string): string {
  const parts = name.replace(/[^\p{L}\p{N} ]/gu, " ").trim().split(/\s+/);
  const letters = parts.length > 1 ? parts[0]![0]! + parts[1]![0]! : (parts[0] ?? "?").slice(0, 2);
  return (letters || "?").toUpperCase();
}
