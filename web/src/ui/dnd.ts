// Moving cards: HTML5 drag and drop between and within lanes, and the keyboard (Alt+Arrow
// keys on a focused card). Both end in one MoveWorkItem with a neighbour (before_id or
// after_id) from the lane as shown.

import { placementAt, type Placement } from "../model/order";

export interface MoveTarget {
  itemId: string;
  status: string;
  placement: Placement;
}

export interface DndHooks {
  /** Visible item ids of a lane, in order. */
  laneIds(status: string): string[];
  move(target: MoveTarget): void;
}

let dragging = "";

function cardsOf(list: HTMLElement): HTMLElement[] {
  return Array.from(list.querySelectorAll<HTMLElement>(":scope > .card"));
}

function clearMarks(root: ParentNode): void {
  root.querySelectorAll(".drop-before").forEach((n) => n.classList.remove("drop-before"));
  root.querySelectorAll(".drop-end").forEach((n) => n.classList.remove("drop-end"));
}

/** Index among the lane's other cards where a drop at clientY lands. */
function dropIndex(list: HTMLElement, clientY: number): { index: number; before: HTMLElement | null } {
  const others = cardsOf(list).filter((card) => card.dataset.id !== dragging);
  for (let i = 0; i < others.length; i++) {
    const box = others[i]!.getBoundingClientRect();
    if (clientY < box.top + box.height / 2) return { index: i, before: others[i]! };
  }
  return { index: others.length, before: null };
}

/** A card element starts drags. */
export function makeDraggable(card: HTMLElement): void {
  card.addEventListener("dragstart", (event) => {
    const id = card.dataset.id ?? "";
    if (!id || !event.dataTransfer) return;
    dragging = id;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.key ?? id);
    card.classList.add("dragging");
  });
  card.addEventListener("dragend", () => {
    dragging = "";
    card.classList.remove("dragging");
    clearMarks(document);
  });
}

/** A lane's card list accepts drops. */
export function makeDropZone(list: HTMLElement, status: () => string, hooks: DndHooks): void {
  list.addEventListener("dragover", (event) => {
    if (!dragging) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "move";
    clearMarks(document);
    const { before } = dropIndex(list, event.clientY);
    if (before) before.classList.add("drop-before");
    else list.classList.add("drop-end");
  });
  list.addEventListener("dragleave", (event) => {
    if (event.relatedTarget instanceof Node && list.contains(event.relatedTarget)) return;
    clearMarks(list);
    list.classList.remove("drop-end");
  });
  list.addEventListener("drop", (event) => {
    if (!dragging) return;
    event.preventDefault();
    const itemId = dragging;
    dragging = "";
    clearMarks(document);
    const lane = status();
    const { index } = dropIndex(list, event.clientY);
    const shown = hooks.laneIds(lane);
    const others = shown.filter((id) => id !== itemId);
    // Dropped where it already is: nothing to do.
    if (shown.includes(itemId) && shown.indexOf(itemId) === index) return;
    hooks.move({ itemId, status: lane, placement: placementAt(others, index) });
  });
}

/** The move an Alt+Arrow key asks for, or null at an edge. */
export function keyboardMove(
  key: string,
  itemId: string,
  status: string,
  laneOrder: string[],
  hooks: DndHooks,
): MoveTarget | null {
  const shown = hooks.laneIds(status);
  const at = shown.indexOf(itemId);
  if (at < 0) return null;
  if (key === "ArrowUp") {
    if (at === 0) return null;
    return { itemId, status, placement: { beforeId: shown[at - 1]!, afterId: "" } };
  }
  if (key === "ArrowDown") {
    if (at === shown.length - 1) return null;
    return { itemId, status, placement: { beforeId: "", afterId: shown[at + 1]! } };
  }
  if (key === "ArrowLeft" || key === "ArrowRight") {
    const laneAt = laneOrder.indexOf(status);
    const target = laneOrder[laneAt + (key === "ArrowLeft" ? -1 : 1)];
    if (laneAt < 0 || target === undefined) return null;
    const others = hooks.laneIds(target).filter((id) => id !== itemId);
    return { itemId, status: target, placement: placementAt(others, at) };
  }
  return null;
}
