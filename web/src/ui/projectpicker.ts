// The project picker (select[name=project], kept live by the tenant feed) and the form that
// creates a project (input[name=project-key], input[name=project-name]).

import { h, option, replaceChildren } from "../util/dom";
import type { Actions } from "../actions";
import type { Store } from "../store";

export function mountProjectPicker(
  root: HTMLElement,
  store: Store,
  actions: Actions,
  open: (projectId: string) => void,
): void {
  const select = h("select", {
    attrs: { name: "project", "aria-label": "Project" },
    data: { testid: "project-picker" },
    on: { change: () => open(select.value) },
  });
  const key = h("input", {
    attrs: { name: "project-key", placeholder: "KEY", maxlength: 10, required: true, pattern: "[A-Za-z][A-Za-z0-9]{1,9}", "aria-label": "Project key" },
  });
  const name = h("input", {
    attrs: { name: "project-name", placeholder: "Project name", maxlength: 120, required: true, "aria-label": "Project name" },
  });
  const form = h(
    "form",
    {
      class: "inline-form",
      data: { testid: "create-project-form" },
      hidden: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          const k = key.value.trim().toUpperCase();
          const n = name.value.trim();
          if (!k || !n) return;
          void actions.createProject(k, n).then((ok) => {
            if (ok) {
              key.value = "";
              name.value = "";
              form.hidden = true;
            }
          });
        },
      },
    },
    key,
    name,
    h("button", { text: "Create", attrs: { type: "submit" }, data: { testid: "create-project" } }),
    h("button", { text: "Cancel", attrs: { type: "button" }, on: { click: () => (form.hidden = true) } }),
  );
  const toggle = h("button", {
    text: "New project",
    class: "secondary",
    attrs: { type: "button" },
    data: { testid: "new-project" },
    on: {
      click: () => {
        form.hidden = !form.hidden;
        if (!form.hidden) key.focus();
      },
    },
  });
  root.append(select, toggle, form);

  const render = (): void => {
    const current = store.wantedProjectId;
    const projects = store.projects.sorted();
    replaceChildren(
      select,
      option("", projects.length ? "Choose a project…" : "No projects yet", current),
      ...projects.map((p) => {
        const o = option(p.id, `${p.key} · ${p.name}`, current);
        o.dataset.key = p.key;
        if (store.projects.pending.has(p.id)) o.dataset.pending = "";
        return o;
      }),
    );
    select.value = projects.some((p) => p.id === current) ? current : "";
  };
  store.on("projects", render);
  store.on("board", render);
  render();
}
