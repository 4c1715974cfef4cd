// The board: lanes as columns in their order, cards in rank order, filtered by sprint.
// Rendering reconciles by id (a card element lives as long as its item), so a live change
// touches only the cards it changed and keyboard focus survives moves.

import { WorkItemType, type SwimLane } from "../gen/pm/v1/entities_pb";
import type { Actions } from "../actions";
import type { BoardView } from "../model/board";
import type { Store } from "../store";
import { h, option, replaceChildren, setData } from "../util/dom";
import { cardSignature, createCard, fillCard, type CardFacts } from "./card";
import { keyboardMove, makeDraggable, makeDropZone, type DndHooks, type MoveTarget } from "./dnd";
import { TYPES } from "./labels";

interface LaneDom {
  section: HTMLElement;
  title: HTMLElement;
  count: HTMLElement;
  list: HTMLElement;
  admin: HTMLElement;
  renameForm: HTMLFormElement;
  renameInput: HTMLInputElement;
  status: string;
  signature: string;
}

export class Board {
  private readonly lanesRoot = h("div", { class: "lanes", data: { testid: "lanes" } });
  private readonly empty = h("div", { class: "board-empty", data: { testid: "board-empty" } });
  private readonly lanes = new Map<string, LaneDom>();
  private readonly cards = new Map<string, { el: HTMLElement; signature: string }>();
  private readonly addLane: HTMLElement;
  private scheduled = false;
  private refocus = "";
  private shownLaneIds = new Map<string, string[]>();
  private laneOrder: string[] = [];
  private readonly dnd: DndHooks;

  constructor(
    private readonly root: HTMLElement,
    private readonly store: Store,
    private readonly actions: Actions,
    private readonly openCard: (itemId: string) => void,
    private readonly announce: (message: string) => void,
  ) {
    this.dnd = {
      laneIds: (status) => this.shownLaneIds.get(status) ?? [],
      move: (target) => this.move(target, false),
    };
    this.addLane = this.addLaneForm();
    root.append(this.empty, this.lanesRoot);
    for (const topic of ["board", "users", "presence", "auth"] as const) store.on(topic, () => this.schedule());
    document.addEventListener("visibilitychange", () => this.schedule());
    this.render();
  }

  /** Renders once per frame however many events arrive (a replay can be thousands). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.render();
    };
    requestAnimationFrame(run);
    // Hidden tabs get no frames: render anyway, a little later.
    window.setTimeout(run, 250);
  }

  private move(target: MoveTarget, byKeyboard: boolean): void {
    const board = this.store.board;
    const item = board?.view().items.get(target.itemId);
    if (!board || !item) return;
    if (byKeyboard) this.refocus = target.itemId;
    void this.actions.moveItem(target.itemId, target.status, target.placement);
    const lane = board.view().lanes.find((l) => l.statusValue === target.status);
    const others = (this.shownLaneIds.get(target.status) ?? []).filter((id) => id !== target.itemId);
    const { beforeId, afterId } = target.placement;
    const position = beforeId ? others.indexOf(beforeId) + 1 : afterId ? others.indexOf(afterId) + 2 : others.length + 1;
    this.announce(`${item.key} moved to ${lane?.name ?? target.status}${position > 0 ? `, position ${position}` : ""}.`);
  }

  render(): void {
    const board = this.store.board;
    if (!board) {
      this.root.removeAttribute("data-project-id");
      this.root.removeAttribute("data-project-key");
      this.root.dataset.state = this.store.wantedProjectId ? "loading" : "empty";
      this.empty.hidden = false;
      this.empty.textContent = this.store.wantedProjectId
        ? "Loading the board…"
        : "Choose a project above, or create one.";
      this.lanesRoot.hidden = true;
      return;
    }
    const view = board.view();
    setData(this.root, { projectId: board.id, projectKey: view.project.key, state: "ready", seq: String(board.seq) });
    this.empty.hidden = true;
    this.lanesRoot.hidden = false;
    const focusedId = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.id ?? "" : "";
    const refocus = this.refocus || (this.cards.has(focusedId) ? focusedId : "");
    this.refocus = "";

    this.renderLanes(view);
    const viewers = this.store.presence.viewers(board.id);
    const filter = this.store.sprintFilter;
    const placed = new Set<string>();
    this.shownLaneIds = new Map();
    for (const lane of view.lanes) {
      const dom = this.lanes.get(lane.id)!;
      const ids = (view.laneItems.get(lane.statusValue) ?? []).filter((id) => {
        const item = view.items.get(id);
        if (!item) return false;
        if (filter === "none") return !item.sprintId;
        return !filter || item.sprintId === filter;
      });
      this.shownLaneIds.set(lane.statusValue, ids);
      dom.count.textContent = String(ids.length);
      ids.forEach((id, index) => {
        const item = view.items.get(id)!;
        const facts: CardFacts = {
          item,
          assigneeName: item.assigneeId ? this.store.users.name(item.assigneeId) : "",
          blocked: view.blocked.has(id),
          pending: view.pending.has(id),
          viewers: (viewers.get(id) ?? []).filter((u) => u !== this.store.userId).map((u) => this.store.users.name(u)),
          sprintName: item.sprintId ? (board.view().sprints.find((s) => s.id === item.sprintId)?.name ?? "") : "",
        };
        let entry = this.cards.get(id);
        if (!entry) {
          entry = { el: this.newCard(id), signature: "" };
          this.cards.set(id, entry);
        }
        const signature = cardSignature(facts);
        if (signature !== entry.signature) {
          fillCard(entry.el, facts);
          entry.signature = signature;
        }
        entry.el.classList.toggle("open", this.store.openItemId === id);
        const at = dom.list.children[index];
        if (at !== entry.el) dom.list.insertBefore(entry.el, at ?? null);
        placed.add(id);
      });
      while (dom.list.children.length > ids.length) dom.list.lastElementChild?.remove();
    }
    for (const [id, entry] of this.cards) {
      if (!placed.has(id)) {
        entry.el.remove();
        this.cards.delete(id);
      }
    }
    if (refocus) {
      const el = this.cards.get(refocus)?.el;
      if (el && document.activeElement !== el) el.focus({ preventScroll: false });
    }
  }

  private renderLanes(view: BoardView): void {
    const admin = this.store.isAdmin;
    const wanted = view.lanes.map((l) => l.id);
    this.laneOrder = view.lanes.map((l) => l.statusValue);
    for (const [id, dom] of this.lanes) {
      if (!wanted.includes(id)) {
        dom.section.remove();
        this.lanes.delete(id);
      }
    }
    view.lanes.forEach((lane, index) => {
      let dom = this.lanes.get(lane.id);
      if (!dom) {
        dom = this.newLane(lane);
        this.lanes.set(lane.id, dom);
      }
      const signature = [lane.name, lane.statusValue, index, view.lanes.length, admin, lane.isDefault, view.pending.has(lane.id)].join("|");
      if (signature !== dom.signature) {
        dom.signature = signature;
        dom.status = lane.statusValue;
        dom.title.textContent = lane.name;
        setData(dom.section, { lane: lane.statusValue, testid: `lane-${lane.statusValue}`, laneId: lane.id, pending: view.pending.has(lane.id) });
        setData(dom.list, { lane: lane.statusValue });
        dom.list.setAttribute("aria-label", `${lane.name} cards`);
        replaceChildren(
          dom.admin,
          h("button", {
            text: "Rename",
            class: "icon",
            attrs: { type: "button", title: "Rename lane" },
            data: { testid: "lane-rename" },
            on: {
              click: () => {
                dom!.renameForm.hidden = !dom!.renameForm.hidden;
                dom!.renameInput.value = lane.name;
                if (!dom!.renameForm.hidden) dom!.renameInput.focus();
              },
            },
          }),
          h("button", {
            text: "◀",
            class: "icon",
            attrs: { type: "button", title: "Move lane left", "aria-label": "Move lane left", disabled: index === 0 },
            data: { testid: "lane-left" },
            on: { click: () => this.shiftLane(lane.id, -1) },
          }),
          h("button", {
            text: "▶",
            class: "icon",
            attrs: { type: "button", title: "Move lane right", "aria-label": "Move lane right", disabled: index === view.lanes.length - 1 },
            data: { testid: "lane-right" },
            on: { click: () => this.shiftLane(lane.id, 1) },
          }),
          lane.isDefault
            ? null
            : h("button", {
                text: "✕",
                class: "icon danger",
                attrs: { type: "button", title: "Delete lane", "aria-label": "Delete lane" },
                data: { testid: "lane-delete" },
                on: { click: () => void this.actions.deleteLane(lane.id) },
              }),
        );
        dom.admin.hidden = !admin;
      }
      const at = this.lanesRoot.children[index];
      if (at !== dom.section) this.lanesRoot.insertBefore(dom.section, at ?? null);
    });
    this.addLane.hidden = !admin;
    if (this.lanesRoot.lastElementChild !== this.addLane) this.lanesRoot.appendChild(this.addLane);
  }

  private shiftLane(laneId: string, by: number): void {
    const board = this.store.board;
    if (!board) return;
    const ids = board.view().lanes.map((l) => l.id);
    const at = ids.indexOf(laneId);
    const to = at + by;
    if (at < 0 || to < 0 || to >= ids.length) return;
    ids.splice(at, 1);
    ids.splice(to, 0, laneId);
    void this.actions.reorderLanes(ids);
  }

  private newLane(lane: SwimLane): LaneDom {
    const title = h("h2", { class: "lane-name", text: lane.name, data: { testid: "lane-name" } });
    const count = h("span", { class: "lane-count", data: { testid: "lane-count" } });
    const admin = h("div", { class: "lane-admin", hidden: true });
    const renameInput = h("input", {
      attrs: { name: "lane-name-edit", maxlength: 120, "aria-label": "Lane name", required: true },
    });
    const renameForm = h(
      "form",
      {
        class: "inline-form lane-rename",
        hidden: true,
        on: {
          submit: (event) => {
            event.preventDefault();
            const name = renameInput.value.trim();
            renameForm.hidden = true;
            if (name && name !== this.store.board?.lanes.get(lane.id)?.name) void this.actions.renameLane(lane.id, name);
          },
        },
      },
      renameInput,
      h("button", { text: "Save", attrs: { type: "submit" }, data: { testid: "lane-rename-save" } }),
    );
    const list = h("div", { class: "lane-cards", data: { testid: "lane-cards", lane: lane.statusValue }, attrs: { role: "list" } });
    const dom: LaneDom = {
      section: h("section", { class: "lane" }),
      title,
      count,
      list,
      admin,
      renameForm,
      renameInput,
      status: lane.statusValue,
      signature: "",
    };
    makeDropZone(list, () => dom.status, this.dnd);
    dom.section.append(
      h("header", { class: "lane-header" }, title, count, admin),
      renameForm,
      list,
      this.addCardForm(() => dom.status),
    );
    return dom;
  }

  private newCard(id: string): HTMLElement {
    const card = createCard(id);
    makeDraggable(card);
    card.addEventListener("click", () => this.openCard(id));
    card.addEventListener("keydown", (event) => this.onCardKey(event, id));
    return card;
  }

  private onCardKey(event: KeyboardEvent, id: string): void {
    const board = this.store.board;
    const item = board?.view().items.get(id);
    if (!board || !item) return;
    const arrows = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"];
    if (event.altKey && arrows.includes(event.key)) {
      event.preventDefault();
      const target = keyboardMove(event.key, id, item.status, this.laneOrder, this.dnd);
      if (target) this.move(target, true);
      return;
    }
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.openCard(id);
      return;
    }
    if (!event.altKey && !event.ctrlKey && !event.metaKey && arrows.includes(event.key)) {
      const shown = this.shownLaneIds.get(item.status) ?? [];
      const at = shown.indexOf(id);
      let next: string | undefined;
      if (event.key === "ArrowUp") next = shown[at - 1];
      else if (event.key === "ArrowDown") next = shown[at + 1];
      else {
        const laneAt = this.laneOrder.indexOf(item.status);
        const lane = this.laneOrder[laneAt + (event.key === "ArrowLeft" ? -1 : 1)];
        const ids = lane ? (this.shownLaneIds.get(lane) ?? []) : [];
        next = ids[Math.min(at, ids.length - 1)];
      }
      if (next) {
        event.preventDefault();
        this.cards.get(next)?.el.focus();
      }
    }
  }

  private addCardForm(status: () => string): HTMLFormElement {
    const title = h("input", {
      attrs: { name: "new-card-title", placeholder: "Add a card…", maxlength: 255, "aria-label": "New card title" },
    });
    const type = h(
      "select",
      { attrs: { name: "new-card-type", "aria-label": "New card type" } },
      ...TYPES.map(([value, name]) => option(String(value), name, String(WorkItemType.TASK))),
    );
    const form = h(
      "form",
      {
        class: "add-card",
        data: { testid: "add-card-form" },
        on: {
          submit: (event) => {
            event.preventDefault();
            const text = title.value.trim();
            if (!text) return;
            title.value = "";
            const filter = this.store.sprintFilter;
            const sprintId = filter && filter !== "none" ? filter : "";
            void this.actions.createItem(status(), text, Number(type.value) as WorkItemType, sprintId);
          },
        },
      },
      title,
      type,
      h("button", { text: "Add", attrs: { type: "submit" }, data: { testid: "add-card" } }),
    );
    return form;
  }

  private addLaneForm(): HTMLElement {
    const name = h("input", { attrs: { name: "lane-name", placeholder: "Lane name", maxlength: 120, required: true, "aria-label": "Lane name" } });
    const status = h("input", {
      attrs: { name: "lane-status", placeholder: "status_value (optional)", maxlength: 64, "aria-label": "Lane status value" },
    });
    return h(
      "section",
      { class: "lane add-lane", data: { testid: "add-lane-column" }, hidden: true },
      h("h2", { class: "lane-name", text: "New lane" }),
      h(
        "form",
        {
          class: "stack-form",
          data: { testid: "add-lane-form" },
          on: {
            submit: (event) => {
              event.preventDefault();
              const laneName = name.value.trim();
              if (!laneName) return;
              const value =
                status.value.trim() ||
                laneName
                  .toLowerCase()
                  .normalize("NFKD")
                  .replace(/[^a-z0-9]+/g, "_")
                  .replace(/^_+|_+$/g, "")
                  .slice(0, 64) ||
                "lane";
              name.value = "";
              status.value = "";
              void this.actions.createLane(laneName, value);
            },
          },
        },
        name,
        status,
        h("button", { text: "Add lane", attrs: { type: "submit" }, data: { testid: "add-lane" } }),
      ),
    );
  }
}
