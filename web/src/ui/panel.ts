// The card panel ([data-testid=card-panel]): a card's fields (each saved on change), its
// comments, its timer and time totals, its dependencies (add a blocker by number), its
// history, and delete. Fields follow the live model; the rest comes from
// GET /api/v1/work-items/{id}, fetched again whenever an event touches the card.

import { create } from "@bufbuild/protobuf";
import { CommentThreadSchema, DependencyType, SprintState, type WorkItem } from "../gen/pm/v1/entities_pb";
import type { Actions } from "../actions";
import type { Rest, ViewDependency, WorkItemView } from "../net/rest";
import { RestError } from "../net/rest";
import type { Store } from "../store";
import { h, option, replaceChildren, setData, setValueUnlessEditing } from "../util/dom";
import { dateTime, duration } from "../util/format";
import { uuid } from "../util/ids";
import { commentForm, renderThreads, type PendingComment } from "./comments";
import { PRIORITIES, TYPES, typeName } from "./labels";
import { renderMarkdown } from "./markdown";
import type { Toasts } from "./toast";

const RELATION_LABEL: Record<string, string> = {
  blocked_by: "blocked by",
  blocks: "blocks",
  relates_to: "relates to",
};

export class Panel {
  private itemId = "";
  private view: WorkItemView | null = null;
  private generation = 0;
  private refetchTimer: number | undefined;
  private tick: number | undefined;
  private pendingComments: PendingComment[] = [];
  private optionsSignature = "";
  private previewOf = "";

  private readonly keyLabel = h("span", { class: "panel-key", data: { testid: "panel-key" } });
  private readonly stateNote = h("p", { class: "panel-note", data: { testid: "panel-note" }, hidden: true });
  private readonly title = h("input", { attrs: { name: "title", maxlength: 255, required: true, "aria-label": "Title" } });
  private readonly type = h("select", { attrs: { name: "type", "aria-label": "Type" } }, ...TYPES.map(([v, n]) => option(String(v), n)));
  private readonly priority = h(
    "select",
    { attrs: { name: "priority", "aria-label": "Priority" } },
    ...PRIORITIES.map(([v, n]) => option(String(v), n)),
  );
  private readonly points = h("input", {
    attrs: { name: "story_points", type: "number", min: 0, max: 100, step: 1, placeholder: "–", "aria-label": "Story points" },
  });
  private readonly assignee = h("select", { attrs: { name: "assignee_id", "aria-label": "Assignee" } });
  private readonly sprint = h("select", { attrs: { name: "sprint_id", "aria-label": "Sprint" } });
  private readonly description = h("textarea", {
    attrs: { name: "description", rows: 6, placeholder: "Description (markdown)", "aria-label": "Description" },
  });
  private readonly descriptionPreview = h("div", { class: "markdown", data: { testid: "description-preview" } });
  private readonly blockedNote = h("span", { class: "badge-blocked", text: "blocked", data: { testid: "panel-blocked" }, hidden: true });
  private readonly timerButton = h("button", { attrs: { type: "button" }, data: { testid: "timer-toggle" } });
  private readonly timerElapsed = h("span", { class: "timer-elapsed", data: { testid: "timer-elapsed" } });
  private readonly timeTotal = h("div", { class: "time-total", data: { testid: "time-total" } });
  private readonly timeUsers = h("ul", { class: "time-users", data: { testid: "time-totals" } });
  private readonly deps = h("ul", { class: "deps", data: { testid: "dependencies" } });
  private readonly depRelation = h(
    "select",
    { attrs: { name: "dependency-relation", "aria-label": "Relation" } },
    option("blocked_by", "is blocked by"),
    option("blocks", "blocks"),
    option("relates_to", "relates to"),
  );
  private readonly depKey = h("input", {
    attrs: { name: "blocker", placeholder: "PM-3", "aria-label": "Item number", autocomplete: "off", maxlength: 24 },
  });
  private readonly depError = h("p", { class: "error", data: { testid: "dependency-error" }, attrs: { role: "alert" }, hidden: true });
  private readonly threads = h("div", { class: "threads", data: { testid: "comments" } });
  private readonly history = h("ol", { class: "history", data: { testid: "history" } });
  private readonly deleteButton = h("button", { text: "Delete", class: "danger", attrs: { type: "button" }, data: { testid: "delete-card" } });

  constructor(
    private readonly root: HTMLElement,
    private readonly store: Store,
    private readonly actions: Actions,
    private readonly rest: Rest,
    private readonly toasts: Toasts,
    private readonly wantUsers: (ids: string[]) => void,
  ) {
    this.build();
    store.on("board", () => this.renderFields());
    store.on("users", () => this.renderFields());
    store.on("timer", () => this.renderTimer());
    store.on("item", (id) => {
      if (id && id === this.itemId) this.scheduleRefetch();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.itemId && !(event.target instanceof HTMLSelectElement)) this.close();
    });
  }

  get openId(): string {
    return this.itemId;
  }

  open(itemId: string): void {
    if (this.itemId === itemId) {
      this.title.focus();
      return;
    }
    this.itemId = itemId;
    this.store.openItemId = itemId;
    this.view = null;
    this.pendingComments = [];
    this.depError.hidden = true;
    this.depKey.value = "";
    this.root.hidden = false;
    this.root.dataset.itemId = itemId;
    replaceChildren(this.threads, h("p", { class: "muted", text: "Loading…" }));
    replaceChildren(this.history);
    replaceChildren(this.deps);
    this.optionsSignature = "";
    this.renderFields();
    this.renderTimer();
    this.actions.setViewing(itemId);
    this.store.emit("board");
    void this.refetch();
    window.clearInterval(this.tick);
    this.tick = window.setInterval(() => this.renderElapsed(), 1000);
  }

  close(): void {
    if (!this.itemId) return;
    this.itemId = "";
    this.store.openItemId = "";
    this.view = null;
    this.root.hidden = true;
    this.root.removeAttribute("data-item-id");
    this.root.removeAttribute("data-key");
    window.clearInterval(this.tick);
    window.clearTimeout(this.refetchTimer);
    this.actions.setViewing("");
    this.store.emit("board");
  }

  private item(): WorkItem | undefined {
    return this.store.board?.view().items.get(this.itemId);
  }

  // --- building ----------------------------------------------------------------------------

  private build(): void {
    const save = (change: Parameters<Actions["updateItem"]>[1]): void => {
      if (this.itemId) void this.actions.updateItem(this.itemId, change);
    };
    const fields = h(
      "form",
      {
        class: "fields",
        data: { testid: "card-fields" },
        on: {
          submit: (event) => {
            event.preventDefault();
            this.title.blur();
          },
        },
      },
      h("label", {}, "Title", this.title),
      h(
        "div",
        { class: "field-row" },
        h("label", {}, "Type", this.type),
        h("label", {}, "Priority", this.priority),
        h("label", {}, "Points", this.points),
      ),
      h("div", { class: "field-row" }, h("label", {}, "Assignee", this.assignee), h("label", {}, "Sprint", this.sprint)),
      h("label", {}, "Description", this.description),
      h("button", { text: "Save description", class: "secondary", attrs: { type: "button" }, data: { testid: "save-description" } }),
      this.descriptionPreview,
    );
    this.title.addEventListener("change", () => {
      const item = this.item();
      const title = this.title.value.trim();
      if (!item || !title) {
        if (item) this.title.value = item.title;
        return;
      }
      if (title !== item.title) save({ title });
    });
    this.type.addEventListener("change", () => save({ type: Number(this.type.value) }));
    this.priority.addEventListener("change", () => save({ priority: Number(this.priority.value) }));
    this.points.addEventListener("change", () => {
      const raw = this.points.value.trim();
      if (raw === "") return save({ storyPoints: null });
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 0 || value > 100) {
        this.toasts.error("Points are a whole number from 0 to 100.");
        const item = this.item();
        this.points.value = item?.storyPoints !== undefined ? String(item.storyPoints) : "";
        return;
      }
      save({ storyPoints: value });
    });
    this.assignee.addEventListener("change", () => save({ assigneeId: this.assignee.value }));
    this.sprint.addEventListener("change", () => save({ sprintId: this.sprint.value }));
    const saveDescription = (): void => {
      const item = this.item();
      if (item && this.description.value !== item.description) save({ description: this.description.value });
    };
    this.description.addEventListener("change", saveDescription);
    fields.querySelector('[data-testid="save-description"]')?.addEventListener("click", saveDescription);

    this.timerButton.addEventListener("click", () => {
      const running = this.store.runningTimer;
      if (running && running.workItemId === this.itemId) void this.actions.stopTimer();
      else if (this.itemId) void this.actions.startTimer(this.itemId);
    });
    this.deleteButton.addEventListener("click", () => {
      const id = this.itemId;
      if (!id) return;
      this.close();
      void this.actions.deleteItem(id);
    });

    const depForm = h(
      "form",
      {
        class: "inline-form",
        data: { testid: "dependency-form" },
        on: {
          submit: (event) => {
            event.preventDefault();
            void this.addDependency();
          },
        },
      },
      this.depRelation,
      this.depKey,
      h("button", { text: "Add", attrs: { type: "submit" }, data: { testid: "add-blocker" } }),
    );

    replaceChildren(
      this.root,
      h(
        "header",
        { class: "panel-header" },
        this.keyLabel,
        this.blockedNote,
        h("span", { class: "spacer" }),
        this.deleteButton,
        h("button", {
          text: "×",
          class: "icon",
          attrs: { type: "button", "aria-label": "Close" },
          data: { testid: "panel-close" },
          on: { click: () => this.close() },
        }),
      ),
      this.stateNote,
      fields,
      h(
        "section",
        { class: "panel-section", data: { testid: "time-section" } },
        h("h3", { text: "Time" }),
        h("div", { class: "timer-row" }, this.timerButton, this.timerElapsed),
        this.timeTotal,
        this.timeUsers,
      ),
      h(
        "section",
        { class: "panel-section", data: { testid: "dependency-section" } },
        h("h3", { text: "Dependencies" }),
        this.deps,
        depForm,
        this.depError,
      ),
      h(
        "section",
        { class: "panel-section", data: { testid: "comment-section" } },
        h("h3", { text: "Comments" }),
        this.threads,
        commentForm((content) => this.addComment(content, "")),
      ),
      h("section", { class: "panel-section", data: { testid: "history-section" } }, h("h3", { text: "History" }), this.history),
    );
  }

  // --- fields (live from the board model) --------------------------------------------------

  private renderFields(): void {
    if (!this.itemId) return;
    const board = this.store.board;
    const item = this.item();
    if (!board || !item) {
      this.root.dataset.state = "deleted";
      this.stateNote.hidden = false;
      this.stateNote.textContent = "This card was deleted.";
      for (const control of this.controls()) control.disabled = true;
      this.deleteButton.disabled = true;
      return;
    }
    const view = board.view();
    setData(this.root, {
      state: view.pending.has(item.id) ? "saving" : "ready",
      key: item.key || null,
      itemId: item.id,
    });
    this.stateNote.hidden = true;
    for (const control of this.controls()) control.disabled = false;
    this.deleteButton.disabled = false;
    this.keyLabel.textContent = `${item.key || "New card"} · ${typeName(item.type)}`;
    this.blockedNote.hidden = !view.blocked.has(item.id);
    setValueUnlessEditing(this.title, item.title);
    setValueUnlessEditing(this.type, String(item.type));
    setValueUnlessEditing(this.priority, String(item.priority));
    setValueUnlessEditing(this.points, item.storyPoints !== undefined ? String(item.storyPoints) : "");
    setValueUnlessEditing(this.description, item.description);
    if (this.previewOf !== item.id + "\u0000" + item.description) {
      this.previewOf = item.id + "\u0000" + item.description;
      replaceChildren(this.descriptionPreview, renderMarkdown(item.description));
    }

    const users = this.store.users.sorted();
    const sprints = view.sprints.filter(
      (s) => s.state === SprintState.PLANNED || s.state === SprintState.ACTIVE || s.id === item.sprintId,
    );
    const signature = [
      item.assigneeId,
      item.sprintId,
      ...users.map((u) => u.id + ":" + this.store.users.name(u.id)),
      ...sprints.map((s) => s.id + ":" + s.name + ":" + s.state),
    ].join("|");
    if (signature !== this.optionsSignature) {
      this.optionsSignature = signature;
      const known = users.some((u) => u.id === item.assigneeId);
      replaceChildren(
        this.assignee,
        option("", "Unassigned", item.assigneeId),
        ...users.map((u) => option(u.id, this.store.users.name(u.id), item.assigneeId)),
        item.assigneeId && !known ? option(item.assigneeId, this.store.users.name(item.assigneeId), item.assigneeId) : null,
      );
      replaceChildren(
        this.sprint,
        option("", "No sprint", item.sprintId),
        ...sprints.map((s) => option(s.id, s.name, item.sprintId)),
      );
    }
    setValueUnlessEditing(this.assignee, item.assigneeId);
    setValueUnlessEditing(this.sprint, item.sprintId);
    this.renderDependencies();
  }

  private controls(): (HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement)[] {
    return [this.title, this.type, this.priority, this.points, this.assignee, this.sprint, this.description];
  }

  // --- the item view (REST) ----------------------------------------------------------------

  private scheduleRefetch(): void {
    window.clearTimeout(this.refetchTimer);
    this.refetchTimer = window.setTimeout(() => void this.refetch(), 250);
  }

  private async refetch(): Promise<void> {
    const id = this.itemId;
    if (!id) return;
    const mine = ++this.generation;
    let view: WorkItemView;
    try {
      view = await this.rest.workItem(id);
    } catch (error) {
      if (mine !== this.generation || id !== this.itemId) return;
      if (error instanceof RestError && error.status === 404) {
        this.view = null;
        this.renderFields();
        replaceChildren(this.threads);
        return;
      }
      replaceChildren(this.threads, h("p", { class: "error", text: `Could not load the card: ${(error as Error).message}` }));
      return;
    }
    if (mine !== this.generation || id !== this.itemId) return;
    this.view = view;
    this.root.dataset.loaded = "";
    this.store.board?.upsertItem(view.workItem);
    const ids = [
      ...view.history.map((e) => e.actorId),
      ...view.timeTotals.map((t) => t.userId),
      ...view.comments.flatMap((t) => [t.comment?.authorId ?? "", ...t.replies.map((r) => r.authorId)]),
    ];
    this.wantUsers(ids);
    this.renderView();
  }

  private renderView(): void {
    const view = this.view;
    if (!view) return;
    renderThreads(
      this.threads,
      view.comments,
      this.pendingComments,
      { users: this.store.users, add: (content, parentId) => this.addComment(content, parentId) },
      this.store.userId,
    );
    this.renderTimer();
    this.renderDependencies();
    replaceChildren(
      this.history,
      ...view.history.map((entry) =>
        h(
          "li",
          { data: { testid: "history-entry", action: entry.action, field: entry.field || null, seq: String(entry.seq) } },
          h("span", { class: "history-who", text: this.store.users.name(entry.actorId) }),
          " ",
          h("span", { class: "history-what", text: this.describeChange(entry.action, entry.field, entry.oldJson, entry.newJson) }),
          " ",
          h("time", { class: "muted", text: dateTime(entry.occurredAtMs) }),
        ),
      ),
    );
    if (view.history.length === 0) this.history.appendChild(h("li", { class: "muted", text: "No history." }));
  }

  private describeChange(action: string, field: string, oldJson: string, newJson: string): string {
    if (!field) return action;
    const show = (raw: string): string => {
      if (!raw || raw === "null") return "none";
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        return raw;
      }
      if (value === "" || value === null) return "none";
      if (field === "assignee_id" && typeof value === "string") return this.store.users.name(value);
      if (field === "sprint_id" && typeof value === "string") return this.store.board?.sprints.get(value)?.name ?? "a sprint";
      if (field === "parent_id" && typeof value === "string") return this.store.board?.items.get(value)?.key ?? "an item";
      if (field === "status" && typeof value === "string") {
        for (const lane of this.store.board?.lanes.values() ?? []) if (lane.statusValue === value) return lane.name;
      }
      if (field === "priority" || field === "type") {
        return String(value).replace(/^(PRIORITY_|WORK_ITEM_TYPE_)/, "").toLowerCase();
      }
      const text = typeof value === "string" ? value : JSON.stringify(value);
      return text.length > 60 ? text.slice(0, 57) + "…" : text;
    };
    if (field === "rank") return "reordered";
    if (field === "description") return `${action} the description`;
    return `${action} ${field.replace(/_id$/, "").replace(/_/g, " ")}: ${show(oldJson)} → ${show(newJson)}`;
  }

  // --- time ----------------------------------------------------------------------------

  private renderTimer(): void {
    if (!this.itemId) return;
    const running = this.store.runningTimer;
    const here = running?.workItemId === this.itemId;
    this.timerButton.textContent = here ? "Stop timer" : running ? "Start timer (stops the other)" : "Start timer";
    setData(this.timerButton, { running: here });
    const view = this.view;
    if (view) {
      this.timeTotal.textContent = `Total ${duration(view.timeTotalSeconds)}`;
      this.timeTotal.dataset.seconds = String(view.timeTotalSeconds);
      replaceChildren(
        this.timeUsers,
        ...view.timeTotals.map((t) =>
          h(
            "li",
            { data: { testid: "time-user", userId: t.userId } },
            `${this.store.users.name(t.userId)}: ${duration(Number(t.durationSeconds))} (${t.entries} ${t.entries === 1 ? "entry" : "entries"})`,
          ),
        ),
      );
    }
    this.renderElapsed();
  }

  private renderElapsed(): void {
    const running = this.store.runningTimer;
    if (running && running.workItemId === this.itemId) {
      this.timerElapsed.textContent = `running ${duration((Date.now() - Number(running.startedAtMs)) / 1000)}`;
      this.timerElapsed.hidden = false;
    } else {
      this.timerElapsed.textContent = "";
      this.timerElapsed.hidden = true;
    }
  }

  // --- dependencies ----------------------------------------------------------------------

  /** The view's dependencies, with the live board's (added or removed since) folded in. */
  private currentDependencies(): ViewDependency[] {
    const board = this.store.board;
    const id = this.itemId;
    if (!board) return this.view?.dependencies ?? [];
    const view = board.view();
    const liveIds = new Set(view.dependencies.map((d) => d.id));
    const rows: ViewDependency[] = (this.view?.dependencies ?? []).filter((row) => liveIds.has(row.dependency.id));
    const listed = new Set(rows.map((r) => r.dependency.id));
    for (const dep of view.dependencies) {
      if (listed.has(dep.id) || (dep.fromItemId !== id && dep.toItemId !== id)) continue;
      const otherId = dep.fromItemId === id ? dep.toItemId : dep.fromItemId;
      const other = view.items.get(otherId);
      const far = board.farItems.get(otherId);
      rows.push({
        relation: dep.type === DependencyType.RELATES_TO ? "relates_to" : dep.toItemId === id ? "blocked_by" : "blocks",
        dependency: dep,
        other: {
          id: otherId,
          projectId: other?.projectId ?? far?.projectId ?? "",
          key: other?.key ?? far?.key ?? "",
          title: other?.title ?? "",
          status: other?.status ?? "",
        },
      });
    }
    return rows;
  }

  private renderDependencies(): void {
    const rows = this.currentDependencies();
    const pending = this.store.board?.view().pending ?? new Set<string>();
    replaceChildren(
      this.deps,
      ...rows.map((row) => {
        const live = this.store.board?.view().items.get(row.other.id);
        const status = live?.status ?? row.other.status;
        return h(
          "li",
          {
            class: "dep",
            data: {
              testid: "dependency",
              relation: row.relation,
              key: live?.key || row.other.key,
              dependencyId: row.dependency.id,
              pending: pending.has(row.dependency.id),
            },
          },
          h("span", { class: "dep-relation", text: RELATION_LABEL[row.relation] ?? row.relation }),
          " ",
          h("span", { class: "dep-key", text: live?.key || row.other.key || "…" }),
          " ",
          h("span", { class: "dep-title", text: live?.title ?? row.other.title }),
          status ? h("span", { class: "dep-status muted", text: ` (${status})` }) : null,
          h("button", {
            text: "Remove",
            class: "link",
            attrs: { type: "button" },
            data: { testid: "dependency-remove" },
            on: { click: () => void this.actions.removeDependency(row.dependency.id, row.dependency.version, this.itemId) },
          }),
        );
      }),
    );
    if (rows.length === 0) this.deps.appendChild(h("li", { class: "muted", text: "None." }));
  }

  /** Finds an item by number: this board first, else the project its key names. */
  private async resolveKey(raw: string): Promise<string> {
    const key = raw.trim().toUpperCase();
    const board = this.store.board;
    if (!board) return "";
    const onBoard = board.view().byKey.get(key) ?? (/^\d+$/.test(key) ? board.view().byKey.get(`${board.project.key}-${key}`) : undefined);
    if (onBoard) return onBoard.id;
    const match = /^([A-Z][A-Z0-9]{1,9})-(\d+)$/.exec(key);
    if (!match) throw new Error(`“${raw}” is not an item number like ${board.project.key}-3.`);
    const project = this.store.projects.byKey(match[1]!);
    if (!project) throw new Error(`No project has the key ${match[1]}.`);
    try {
      const view = await this.rest.workItemByNumber(project.id, key);
      return view.workItem.id;
    } catch (error) {
      if (error instanceof RestError && error.status === 404) throw new Error(`${key} does not exist.`);
      throw error;
    }
  }

  private async addDependency(): Promise<void> {
    const itemId = this.itemId;
    const raw = this.depKey.value;
    if (!itemId || !raw.trim()) return;
    this.depError.hidden = true;
    let otherId: string;
    try {
      otherId = await this.resolveKey(raw);
    } catch (error) {
      this.showDepError((error as Error).message);
      return;
    }
    const relation = this.depRelation.value;
    const [from, to] = relation === "blocks" ? [itemId, otherId] : [otherId, itemId];
    const type = relation === "relates_to" ? DependencyType.RELATES_TO : DependencyType.BLOCKS;
    const refusal = await this.actions.addDependency(from, to, type);
    if (itemId !== this.itemId) return;
    if (refusal) this.showDepError(refusal);
    else this.depKey.value = "";
  }

  private showDepError(message: string): void {
    this.depError.textContent = message;
    this.depError.hidden = false;
  }

  // --- comments --------------------------------------------------------------------------

  private addComment(content: string, parentId: string): void {
    const itemId = this.itemId;
    if (!itemId) return;
    const pending: PendingComment = { id: uuid(), content, parentId };
    this.pendingComments.push(pending);
    this.renderView();
    void this.actions.addComment(itemId, content, parentId, pending.id).then((comment) => {
      this.pendingComments = this.pendingComments.filter((p) => p !== pending);
      if (itemId !== this.itemId) return;
      if (comment && this.view) {
        const threads = this.view.comments;
        if (comment.parentCommentId) {
          const thread = threads.find((t) => t.comment?.id === comment.parentCommentId);
          if (thread && !thread.replies.some((r) => r.id === comment.id)) thread.replies.push(comment);
        } else if (!threads.some((t) => t.comment?.id === comment.id)) {
          threads.push(create(CommentThreadSchema, { comment, replies: [] }));
        }
      }
      this.renderView();
    });
  }
}

