// One card on the board: number, title, type, priority, assignee, points, blocked badge,
// who is viewing it. Rebuilt only when what it shows changes.

import type { WorkItem } from "../gen/pm/v1/entities_pb";
import { h, replaceChildren, setData } from "../util/dom";
import { priorityName, typeName } from "./labels";
import { initials } from "./presence";

export interface CardFacts {
  item: WorkItem;
  assigneeName: string;
  blocked: boolean;
  pending: boolean;
  viewers: string[];
  sprintName: string;
}

export function cardSignature(f: CardFacts): string {
  const i = f.item;
  return [
    i.key,
    i.title,
    i.type,
    i.priority,
    i.status,
    f.assigneeName,
    i.storyPoints ?? "",
    f.blocked,
    f.pending,
    f.viewers.join(","),
    f.sprintName,
  ].join("\u0001");
}

export function createCard(id: string): HTMLElement {
  return h("article", {
    class: "card",
    data: { id },
    attrs: { draggable: "true", tabindex: 0, role: "listitem" },
  });
}

export function fillCard(card: HTMLElement, f: CardFacts): void {
  const i = f.item;
  const type = typeName(i.type);
  const priority = priorityName(i.priority);
  setData(card, {
    testid: i.key ? `card-${i.key}` : "card-new",
    key: i.key || null,
    lane: i.status,
    type,
    priority,
    blocked: f.blocked,
    pending: f.pending,
    assignee: i.assigneeId || null,
    sprint: i.sprintId || null,
  });
  card.setAttribute(
    "aria-label",
    `${i.key || "new card"}: ${i.title}${f.blocked ? " (blocked)" : ""}. Alt+arrow keys move it, Enter opens it.`,
  );
  replaceChildren(
    card,
    h(
      "div",
      { class: "card-top" },
      h("span", { class: "card-key", text: i.key || "…", data: { field: "key" } }),
      h("span", { class: `card-type type-${type}`, text: type, data: { field: "type" } }),
      h("span", { class: `card-priority priority-${priority}`, text: priority, data: { field: "priority" } }),
      f.blocked ? h("span", { class: "badge-blocked", text: "blocked", data: { testid: "blocked-badge" } }) : null,
    ),
    h("div", { class: "card-title", text: i.title, data: { field: "title" } }),
    h(
      "div",
      { class: "card-meta" },
      h("span", {
        class: "card-assignee" + (f.assigneeName ? "" : " empty"),
        text: f.assigneeName || "unassigned",
        data: { field: "assignee" },
      }),
      i.storyPoints !== undefined
        ? h("span", { class: "card-points", text: `${i.storyPoints} pt`, data: { field: "points" } })
        : null,
      f.sprintName ? h("span", { class: "card-sprint", text: f.sprintName, data: { field: "sprint" } }) : null,
      f.viewers.length
        ? h(
            "span",
            {
              class: "card-viewers",
              data: { testid: "card-viewers", count: f.viewers.length },
              attrs: { title: `Viewing: ${f.viewers.join(", ")}` },
            },
            ...f.viewers.map((name) => h("span", { class: "avatar small", text: initials(name) })),
          )
        : null,
    ),
  );
}
