// One project's board as the server last told it (the REST context, then its events), with
// this tab's own unconfirmed changes laid over it. A change is an overlay until its Response
// comes: confirmed, the server's entity replaces it; refused, dropping the overlay is the
// rollback, and what shows is again exactly what the server said.

import type { Event } from "../gen/pm/v1/envelope_pb";
import { DependencyType, type Dependency, type Project, type Sprint, type SwimLane, type WorkItem } from "../gen/pm/v1/entities_pb";
import type { ProjectContext } from "../net/rest";
import { compareItems, compareLanes, insertByPlacement, type Placement } from "./order";

export const DONE = "done";

export type Overlay =
  | { kind: "item-patch"; rid: string; itemId: string; patch: Partial<WorkItem> }
  | { kind: "item-move"; rid: string; itemId: string; status: string; placement: Placement }
  | { kind: "item-create"; rid: string; item: WorkItem }
  | { kind: "item-delete"; rid: string; itemIds: string[] }
  | { kind: "lane-patch"; rid: string; laneId: string; name: string }
  | { kind: "lane-order"; rid: string; laneIds: string[] }
  | { kind: "lane-create"; rid: string; lane: SwimLane }
  | { kind: "lane-delete"; rid: string; laneId: string }
  | { kind: "sprint-patch"; rid: string; sprintId: string; patch: Partial<Sprint> }
  | { kind: "sprint-create"; rid: string; sprint: Sprint }
  | { kind: "dep-create"; rid: string; dependency: Dependency }
  | { kind: "dep-delete"; rid: string; dependencyId: string };

/** An item of another project that a dependency names. */
export interface FarItem {
  id: string;
  key: string;
  projectId: string;
  /** null: not known yet. */
  done: boolean | null;
}

export interface SprintFigures {
  itemsTotal: number;
  itemsDone: number;
  pointsTotal: number;
  pointsDone: number;
}

export interface BoardView {
  project: Project;
  lanes: SwimLane[];
  items: Map<string, WorkItem>;
  /** Lane status_value -> item ids in board order. */
  laneItems: Map<string, string[]>;
  sprints: Sprint[];
  figures: Map<string, SprintFigures>;
  dependencies: Dependency[];
  blocked: Set<string>;
  byKey: Map<string, WorkItem>;
  /** Ids with an unconfirmed change of this tab. */
  pending: Set<string>;
}

/** What an event touched, for the parts of the page that follow single entities. */
export interface Effects {
  itemIds: Set<string>;
  /** The event names entities without their content (truncated): reload in bulk. */
  reload: boolean;
  /** Dependencies whose far end this board does not know yet. */
  unknownItemIds: Set<string>;
  kind: string;
}

function newer(incoming: { version: bigint }, existing: { version: bigint } | undefined): boolean {
  return !existing || incoming.version >= existing.version;
}

export class BoardModel {
  project: Project;
  seq: bigint;
  epoch: string;
  deleted = false;
  readonly lanes = new Map<string, SwimLane>();
  readonly items = new Map<string, WorkItem>();
  readonly sprints = new Map<string, Sprint>();
  readonly dependencies = new Map<string, Dependency>();
  readonly farItems = new Map<string, FarItem>();
  overlays: Overlay[] = [];
  /** Each item's version as the event log last stated it (see bumpFromEvent). */
  private readonly loggedVersions = new Map<string, bigint>();
  private loggedProjectVersion = 0n;
  private revision = 0;
  private cached: { revision: number; view: BoardView } | null = null;
  private sortedCache: { revision: number; lanes: Map<string, string[]> } | null = null;
  private serverRevision = 0;

  constructor(context: ProjectContext) {
    this.project = context.project;
    this.seq = context.seq;
    this.epoch = context.epoch;
    this.load(context);
  }

  get id(): string {
    return this.project.id;
  }

  /** Replaces the server state with a bulk load (the overlays stay: they await answers). */
  load(context: ProjectContext): void {
    this.project = context.project;
    this.seq = context.seq;
    this.epoch = context.epoch;
    this.deleted = false;
    this.lanes.clear();
    this.items.clear();
    this.sprints.clear();
    this.dependencies.clear();
    this.farItems.clear();
    this.loggedVersions.clear();
    this.loggedProjectVersion = context.project.version;
    for (const lane of context.lanes) this.lanes.set(lane.id, lane);
    for (const item of context.workItems) {
      this.items.set(item.id, item);
      this.loggedVersions.set(item.id, item.version);
    }
    for (const stats of context.sprints) if (stats.sprint) this.sprints.set(stats.sprint.id, stats.sprint);
    for (const row of context.dependencies) {
      const dep = row.dependency;
      this.dependencies.set(dep.id, dep);
      if (!this.items.has(dep.fromItemId)) {
        this.farItems.set(dep.fromItemId, {
          id: dep.fromItemId,
          key: row.fromKey,
          projectId: "",
          done: dep.type === DependencyType.BLOCKS ? !row.blocking : null,
        });
      }
      if (!this.items.has(dep.toItemId)) {
        this.farItems.set(dep.toItemId, { id: dep.toItemId, key: row.toKey, projectId: "", done: null });
      }
    }
    this.changed(true);
  }

  changed(server = false): void {
    this.revision += 1;
    if (server) this.serverRevision += 1;
  }

  // --- server state ----------------------------------------------------------------------

  upsertItem(item: WorkItem | undefined, fromEvent = false): void {
    if (!item || item.projectId !== this.project.id) return;
    if (fromEvent) this.loggedVersions.set(item.id, item.version);
    if (newer(item, this.items.get(item.id))) {
      this.items.set(item.id, item);
      this.farItems.delete(item.id);
      this.changed(true);
    }
  }

  removeItems(ids: readonly string[]): void {
    for (const id of ids) {
      this.items.delete(id);
      this.loggedVersions.delete(id);
    }
    this.changed(true);
  }

  upsertLane(lane: SwimLane | undefined): void {
    if (!lane || lane.projectId !== this.project.id) return;
    if (newer(lane, this.lanes.get(lane.id))) {
      this.lanes.set(lane.id, lane);
      this.changed(true);
    }
  }

  /** A full lane list (every lane event and result carries one). */
  setLanes(lanes: readonly SwimLane[]): void {
    if (lanes.length === 0) return;
    this.lanes.clear();
    for (const lane of lanes) this.lanes.set(lane.id, lane);
    this.changed(true);
  }

  upsertSprint(sprint: Sprint | undefined): void {
    if (!sprint || sprint.projectId !== this.project.id) return;
    if (newer(sprint, this.sprints.get(sprint.id))) {
      this.sprints.set(sprint.id, sprint);
      this.changed(true);
    }
  }

  upsertDependency(dep: Dependency | undefined): void {
    if (!dep) return;
    if (newer(dep, this.dependencies.get(dep.id))) {
      this.dependencies.set(dep.id, dep);
      this.changed(true);
    }
  }

  removeDependencies(ids: readonly string[]): void {
    for (const id of ids) this.dependencies.delete(id);
    this.changed(true);
  }

  upsertProject(project: Project | undefined): void {
    if (project && project.id === this.project.id && newer(project, this.project)) {
      this.project = project;
      this.changed(true);
    }
  }

  setFarItem(far: FarItem): void {
    this.farItems.set(far.id, far);
    this.changed(true);
  }

  /**
   * A change the event log states without the entity (a sprint's end moving its items): the
   * item's version goes up by one from the version the log last gave it. A state taken from
   * a Response may already be past that; it is then left as it is.
   */
  private bumpFromEvent(itemId: string, patch: Partial<WorkItem>): void {
    const item = this.items.get(itemId);
    if (!item) return;
    const logged = (this.loggedVersions.get(itemId) ?? item.version) + 1n;
    this.loggedVersions.set(itemId, logged);
    if (item.version < logged) {
      this.items.set(itemId, { ...item, ...patch, version: logged });
      this.changed(true);
    }
  }

  /** Applies one event of this project (the caller checked its seq). */
  apply(event: Event): Effects {
    const effects: Effects = { itemIds: new Set(), reload: false, unknownItemIds: new Set(), kind: event.change.case ?? "" };
    this.seq = event.seq;
    if (event.truncated) {
      effects.reload = true;
      return effects;
    }
    const change = event.change;
    switch (change.case) {
      case "projectUpdated":
        if (change.value.project) this.loggedProjectVersion = change.value.project.version;
        this.upsertProject(change.value.project);
        break;
      case "projectDeleted":
        if (change.value.projectId === this.project.id) {
          this.deleted = true;
          this.changed(true);
        }
        break;
      case "swimLaneCreated":
        this.setLanes(change.value.lanes);
        this.upsertLane(change.value.lane);
        break;
      case "swimLaneUpdated":
        this.upsertLane(change.value.lane);
        break;
      case "swimLanesReordered":
        this.setLanes(change.value.lanes);
        // The reorder bumped the project's version by one (a Response may have shown it).
        if (change.value.projectId === this.project.id) {
          this.loggedProjectVersion += 1n;
          if (this.project.version < this.loggedProjectVersion) {
            this.project = { ...this.project, version: this.loggedProjectVersion };
          }
          this.changed(true);
        }
        break;
      case "swimLaneDeleted":
        this.setLanes(change.value.lanes);
        this.lanes.delete(change.value.laneId);
        break;
      case "workItemCreated":
      case "workItemUpdated":
      case "workItemMoved": {
        const item = change.value.workItem;
        this.upsertItem(item, true);
        if (item) effects.itemIds.add(item.id);
        break;
      }
      case "workItemDeleted":
        this.removeItems(change.value.workItemIds);
        this.removeDependencies(change.value.dependencyIds);
        change.value.workItemIds.forEach((id) => effects.itemIds.add(id));
        break;
      case "workItemRestored":
        for (const item of change.value.workItems) {
          this.upsertItem(item, true);
          effects.itemIds.add(item.id);
        }
        for (const dep of change.value.dependencies) this.noteDependency(dep, effects);
        break;
      case "workItemsReranked":
        for (const rank of change.value.ranks) {
          const item = this.items.get(rank.workItemId);
          this.loggedVersions.set(rank.workItemId, rank.version);
          if (item && rank.version >= item.version) {
            this.items.set(item.id, { ...item, rank: rank.rank, version: rank.version });
          }
        }
        this.changed(true);
        break;
      case "sprintCreated":
      case "sprintUpdated":
      case "sprintStarted":
        this.upsertSprint(change.value.sprint);
        break;
      case "sprintCompleted":
        this.upsertSprint(change.value.sprint);
        for (const id of change.value.movedWorkItemIds) {
          this.bumpFromEvent(id, { sprintId: change.value.carryOverSprintId });
          effects.itemIds.add(id);
        }
        break;
      case "sprintCancelled":
        this.upsertSprint(change.value.sprint);
        for (const id of change.value.movedWorkItemIds) {
          this.bumpFromEvent(id, { sprintId: "" });
          effects.itemIds.add(id);
        }
        break;
      case "sprintDeleted":
        this.sprints.delete(change.value.sprintId);
        for (const id of change.value.movedWorkItemIds) {
          this.bumpFromEvent(id, { sprintId: "" });
          effects.itemIds.add(id);
        }
        this.changed(true);
        break;
      case "workItemsAssignedToSprint":
        for (const item of change.value.workItems) {
          this.upsertItem(item, true);
          effects.itemIds.add(item.id);
        }
        break;
      case "dependencyCreated":
        if (change.value.dependency) this.noteDependency(change.value.dependency, effects);
        break;
      case "dependencyDeleted":
        this.removeDependencies([change.value.dependencyId]);
        effects.itemIds.add(change.value.fromItemId);
        effects.itemIds.add(change.value.toItemId);
        break;
      case "commentCreated":
      case "commentUpdated":
        if (change.value.comment) effects.itemIds.add(change.value.comment.workItemId);
        break;
      case "commentDeleted":
        effects.itemIds.add(change.value.workItemId);
        break;
      case "timerStarted":
        if (change.value.started) effects.itemIds.add(change.value.started.workItemId);
        if (change.value.stopped) effects.itemIds.add(change.value.stopped.workItemId);
        break;
      case "timerStopped":
      case "timeEntryCreated":
      case "timeEntryUpdated":
        if (change.value.timeEntry) effects.itemIds.add(change.value.timeEntry.workItemId);
        break;
      case "timeEntryDeleted":
        effects.itemIds.add(change.value.workItemId);
        break;
      default:
        break;
    }
    this.changed();
    return effects;
  }

  private noteDependency(dep: Dependency, effects: Effects): void {
    this.upsertDependency(dep);
    effects.itemIds.add(dep.fromItemId);
    effects.itemIds.add(dep.toItemId);
    for (const end of [dep.fromItemId, dep.toItemId]) {
      if (!this.items.has(end) && !this.farItems.has(end)) effects.unknownItemIds.add(end);
    }
  }

  // --- this tab's unconfirmed changes -----------------------------------------------------

  addOverlay(overlay: Overlay): void {
    this.overlays.push(overlay);
    this.changed();
  }

  dropOverlay(rid: string): void {
    const before = this.overlays.length;
    this.overlays = this.overlays.filter((o) => o.rid !== rid);
    if (this.overlays.length !== before) this.changed();
  }

  // --- what the page shows ---------------------------------------------------------------

  private serverLaneOrder(): Map<string, string[]> {
    if (this.sortedCache && this.sortedCache.revision === this.serverRevision) return this.sortedCache.lanes;
    const groups = new Map<string, WorkItem[]>();
    for (const item of this.items.values()) {
      let group = groups.get(item.status);
      if (!group) groups.set(item.status, (group = []));
      group.push(item);
    }
    const lanes = new Map<string, string[]>();
    for (const [status, group] of groups) lanes.set(status, group.sort(compareItems).map((i) => i.id));
    this.sortedCache = { revision: this.serverRevision, lanes };
    return lanes;
  }

  view(): BoardView {
    if (this.cached && this.cached.revision === this.revision) return this.cached.view;
    const items = new Map(this.items);
    const lanes = new Map(this.lanes);
    const sprints = new Map(this.sprints);
    const deps = new Map(this.dependencies);
    const pending = new Set<string>();
    let laneOrder: string[] | null = null;
    const laneItems = new Map<string, string[]>();
    for (const [status, ids] of this.serverLaneOrder()) laneItems.set(status, ids.slice());

    const take = (id: string): void => {
      for (const ids of laneItems.values()) {
        const at = ids.indexOf(id);
        if (at >= 0) {
          ids.splice(at, 1);
          return;
        }
      }
    };
    const laneOf = (status: string): string[] => {
      let ids = laneItems.get(status);
      if (!ids) laneItems.set(status, (ids = []));
      return ids;
    };

    for (const overlay of this.overlays) {
      switch (overlay.kind) {
        case "item-patch": {
          const item = items.get(overlay.itemId);
          if (item) items.set(item.id, { ...item, ...overlay.patch });
          pending.add(overlay.itemId);
          break;
        }
        case "item-move": {
          const item = items.get(overlay.itemId);
          if (!item) break;
          items.set(item.id, { ...item, status: overlay.status });
          take(item.id);
          insertByPlacement(laneOf(overlay.status), item.id, overlay.placement);
          pending.add(item.id);
          break;
        }
        case "item-create":
          if (!items.has(overlay.item.id)) {
            items.set(overlay.item.id, overlay.item);
            laneOf(overlay.item.status).push(overlay.item.id);
          }
          pending.add(overlay.item.id);
          break;
        case "item-delete":
          for (const id of overlay.itemIds) {
            items.delete(id);
            take(id);
          }
          break;
        case "lane-patch": {
          const lane = lanes.get(overlay.laneId);
          if (lane) lanes.set(lane.id, { ...lane, name: overlay.name });
          pending.add(overlay.laneId);
          break;
        }
        case "lane-order":
          laneOrder = overlay.laneIds;
          break;
        case "lane-create":
          if (!lanes.has(overlay.lane.id)) lanes.set(overlay.lane.id, overlay.lane);
          pending.add(overlay.lane.id);
          break;
        case "lane-delete":
          lanes.delete(overlay.laneId);
          break;
        case "sprint-patch": {
          const sprint = sprints.get(overlay.sprintId);
          if (sprint) sprints.set(sprint.id, { ...sprint, ...overlay.patch });
          pending.add(overlay.sprintId);
          break;
        }
        case "sprint-create":
          if (!sprints.has(overlay.sprint.id)) sprints.set(overlay.sprint.id, overlay.sprint);
          pending.add(overlay.sprint.id);
          break;
        case "dep-create":
          if (!deps.has(overlay.dependency.id)) deps.set(overlay.dependency.id, overlay.dependency);
          pending.add(overlay.dependency.id);
          break;
        case "dep-delete":
          deps.delete(overlay.dependencyId);
          break;
      }
    }

    let laneList = [...lanes.values()].sort(compareLanes);
    if (laneOrder) {
      const order = laneOrder;
      laneList = laneList.slice().sort((a, b) => {
        const ia = order.indexOf(a.id);
        const ib = order.indexOf(b.id);
        return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
      });
    }

    const byKey = new Map<string, WorkItem>();
    for (const item of items.values()) if (item.key) byKey.set(item.key.toUpperCase(), item);

    const blocked = new Set<string>();
    for (const dep of deps.values()) {
      if (dep.type !== DependencyType.BLOCKS || !items.has(dep.toItemId)) continue;
      const from = items.get(dep.fromItemId);
      const fromDone = from ? from.status === DONE : (this.farItems.get(dep.fromItemId)?.done ?? false);
      if (!fromDone) blocked.add(dep.toItemId);
    }

    const figures = new Map<string, SprintFigures>();
    for (const sprint of sprints.values()) {
      figures.set(sprint.id, { itemsTotal: 0, itemsDone: 0, pointsTotal: 0, pointsDone: 0 });
    }
    for (const item of items.values()) {
      const f = item.sprintId ? figures.get(item.sprintId) : undefined;
      if (!f) continue;
      const points = item.storyPoints ?? 0;
      f.itemsTotal += 1;
      f.pointsTotal += points;
      if (item.status === DONE) {
        f.itemsDone += 1;
        f.pointsDone += points;
      }
    }

    const view: BoardView = {
      project: this.project,
      lanes: laneList,
      items,
      laneItems,
      sprints: [...sprints.values()].sort(
        (a, b) => Number(a.startDateMs - b.startDateMs) || a.name.localeCompare(b.name),
      ),
      figures,
      dependencies: [...deps.values()],
      blocked,
      byKey,
      pending,
    };
    this.cached = { revision: this.revision, view };
    return view;
  }
}
