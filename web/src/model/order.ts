// Board order: lanes by position, items by rank (plain byte strings, so code-unit order for
// the server's ASCII keys), ties by number so two clients always agree.

import type { SwimLane, WorkItem } from "../gen/pm/v1/entities_pb";

export function compareItems(a: WorkItem, b: WorkItem): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  if (a.number !== b.number) return a.number < b.number ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function compareLanes(a: SwimLane, b: SwimLane): number {
  return a.position - b.position || (a.id < b.id ? -1 : 1);
}

/** Where a move lands: before this item, after that one, or (neither) at the lane's end. */
export interface Placement {
  beforeId: string;
  afterId: string;
}

/** The placement that puts an item at `index` of `others` (the lane without the item). */
export function placementAt(others: readonly string[], index: number): Placement {
  const i = Math.max(0, Math.min(index, others.length));
  if (i < others.length) return { beforeId: others[i]!, afterId: "" };
  if (others.length > 0) return { beforeId: "", afterId: others[others.length - 1]! };
  return { beforeId: "", afterId: "" };
}

/** Inserts `id` into `list` by a placement (the end when its neighbour is not there). */
export function insertByPlacement(list: string[], id: string, placement: Placement): void {
  if (placement.beforeId) {
    const at = list.indexOf(placement.beforeId);
    if (at >= 0) {
      list.splice(at, 0, id);
      return;
    }
  } else if (placement.afterId) {
    const at = list.indexOf(placement.afterId);
    if (at >= 0) {
      list.splice(at + 1, 0, id);
      return;
    }
  }
  list.push(id);
}
