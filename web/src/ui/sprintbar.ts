// The sprint bar: the sprint filter (select[name=sprint-filter]), the project's sprints with
// their figures, and planning: create (name, start, end), start, complete (unfinished items to
// the backlog or to a planned sprint).

import { SprintState, type Sprint } from "../gen/pm/v1/entities_pb";
import type { Actions } from "../actions";
import type { Store } from "../store";
import { h, option, replaceChildren } from "../util/dom";
import { day, dayToMs } from "../util/format";
import { sprintStateName } from "./labels";

const DAY_MS = 86_400_000;

export function mountSprintBar(root: HTMLElement, store: Store, actions: Actions): void {
  const filter = h("select", {
    attrs: { name: "sprint-filter", "aria-label": "Show items of" },
    data: { testid: "sprint-filter" },
    on: {
      change: () => {
        store.sprintFilter = filter.value;
        store.emit("board");
      },
    },
  });
  const list = h("div", { class: "sprints", data: { testid: "sprints" } });
  const name = h("input", { attrs: { name: "sprint-name", placeholder: "Sprint name", maxlength: 120, required: true, "aria-label": "Sprint name" } });
  const start = h("input", { attrs: { name: "sprint-start", type: "date", required: true, "aria-label": "Start date" } });
  const end = h("input", { attrs: { name: "sprint-end", type: "date", required: true, "aria-label": "End date" } });
  const resetDates = (): void => {
    const today = Date.now() - (Date.now() % DAY_MS);
    start.value = day(today);
    end.value = day(today + 14 * DAY_MS);
  };
  resetDates();
  const form = h(
    "form",
    {
      class: "inline-form",
      data: { testid: "create-sprint-form" },
      hidden: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          const s = dayToMs(start.value);
          const e = dayToMs(end.value);
          const n = name.value.trim();
          if (!n || Number.isNaN(s) || Number.isNaN(e)) return;
          void actions.createSprint(n, s, e).then((ok) => {
            if (ok) {
              name.value = "";
              resetDates();
              form.hidden = true;
            }
          });
        },
      },
    },
    name,
    start,
    end,
    h("button", { text: "Plan", attrs: { type: "submit" }, data: { testid: "create-sprint" } }),
  );
  const toggle = h("button", {
    text: "Plan a sprint",
    class: "secondary",
    attrs: { type: "button" },
    data: { testid: "plan-sprint" },
    on: {
      click: () => {
        form.hidden = !form.hidden;
        if (!form.hidden) name.focus();
      },
    },
  });
  root.append(h("label", { class: "filter-label" }, "Show ", filter), list, toggle, form);

  let shown = "";
  const render = (): void => {
    const board = store.board;
    root.hidden = !board;
    if (!board) {
      shown = "";
      return;
    }
    const view = board.view();
    const current = store.sprintFilter;
    if (current && current !== "none" && !view.sprints.some((s) => s.id === current)) store.sprintFilter = "";
    // Rebuilt only when what it shows changed (an open select must not lose its options).
    const signature = JSON.stringify([
      board.id,
      store.sprintFilter,
      view.sprints.map((s) => [s.id, s.name, s.state, String(s.startDateMs), String(s.endDateMs), view.pending.has(s.id)]),
      [...view.figures.entries()].map(([id, f]) => [id, f.itemsDone, f.itemsTotal, f.pointsDone, f.pointsTotal]),
    ]);
    if (signature === shown) return;
    shown = signature;
    replaceChildren(
      filter,
      option("", "All items", store.sprintFilter),
      option("none", "No sprint (backlog)", store.sprintFilter),
      ...view.sprints.map((s) => option(s.id, `${s.name} (${sprintStateName(s.state)})`, store.sprintFilter)),
    );
    filter.value = store.sprintFilter;
    const live = view.sprints.filter((s) => s.state === SprintState.PLANNED || s.state === SprintState.ACTIVE);
    const hasActive = live.some((s) => s.state === SprintState.ACTIVE);
    const planned = live.filter((s) => s.state === SprintState.PLANNED);
    replaceChildren(list, ...live.map((s) => sprintChip(s)));

    function sprintChip(s: Sprint): HTMLElement {
      const f = view.figures.get(s.id);
      const state = sprintStateName(s.state);
      const carry = h(
        "select",
        { attrs: { name: "carry-over", "aria-label": "Unfinished items go to" } },
        option("", "unfinished → backlog"),
        ...planned.filter((p) => p.id !== s.id).map((p) => option(p.id, `unfinished → ${p.name}`)),
      );
      return h(
        "div",
        {
          class: `sprint sprint-${state}`,
          data: { testid: "sprint", sprintId: s.id, state, name: s.name, pending: view.pending.has(s.id) },
        },
        h("span", { class: "sprint-name", text: s.name }),
        h("span", { class: "sprint-state", text: state, data: { field: "state" } }),
        h("span", { class: "sprint-dates", text: `${day(s.startDateMs)} → ${day(s.endDateMs)}` }),
        f
          ? h("span", {
              class: "sprint-figures",
              data: { field: "figures" },
              text: `${f.itemsDone}/${f.itemsTotal} items · ${f.pointsDone}/${f.pointsTotal} pt`,
            })
          : null,
        s.state === SprintState.PLANNED
          ? h("button", {
              text: "Start",
              attrs: { type: "button", disabled: hasActive, title: hasActive ? "Another sprint is active" : "Start this sprint" },
              data: { testid: "sprint-start" },
              on: { click: () => void actions.startSprint(s.id) },
            })
          : null,
        s.state === SprintState.ACTIVE ? carry : null,
        s.state === SprintState.ACTIVE
          ? h("button", {
              text: "Complete",
              attrs: { type: "button" },
              data: { testid: "sprint-complete" },
              on: { click: () => void actions.completeSprint(s.id, carry.value) },
            })
          : null,
      );
    }
  };
  store.on("board", render);
  render();
}
