// This tab's own changes: each applied at once as an overlay on the board, then confirmed by
// its Response (the server's entity replaces the overlay) or rolled back with a visible
// message (the overlay goes; on CONFLICT the entity the server sent becomes the state, and
// the message shows its current value). Changes to one entity go out one after another, each
// with the version the previous answer left.

import { create } from "@bufbuild/protobuf";
import { ErrorCode, type Error as PmError, type Response } from "./gen/pm/v1/envelope_pb";
import {
  DependencyType,
  Priority,
  SprintState,
  WorkItemType,
  DependencySchema,
  ProjectSchema,
  SprintSchema,
  SwimLaneSchema,
  WorkItemSchema,
  type Comment,
  type WorkItem,
} from "./gen/pm/v1/entities_pb";
import {
  CreateProjectSchema,
  CreateSwimLaneSchema,
  DeleteSwimLaneSchema,
  ReorderSwimLanesSchema,
  UpdateSwimLaneSchema,
} from "./gen/pm/v1/projects_pb";
import {
  CreateWorkItemSchema,
  DeleteWorkItemSchema,
  MoveWorkItemSchema,
  RestoreWorkItemSchema,
  UpdateWorkItemSchema,
} from "./gen/pm/v1/work_items_pb";
import { CompleteSprintSchema, CreateSprintSchema, StartSprintSchema } from "./gen/pm/v1/sprints_pb";
import { CreateCommentSchema } from "./gen/pm/v1/comments_pb";
import { CreateDependencySchema, DeleteDependencySchema } from "./gen/pm/v1/dependencies_pb";
import { StartTimerSchema, StopTimerSchema } from "./gen/pm/v1/time_entries_pb";
import { SetViewingSchema, RefreshTokenSchema } from "./gen/pm/v1/session_pb";
import type { BoardModel, Overlay } from "./model/board";
import type { Placement } from "./model/order";
import type { Payload, Socket } from "./net/socket";
import type { Store } from "./store";
import type { Toasts } from "./ui/toast";
import { priorityName, typeName } from "./ui/labels";
import { requestId, uuid } from "./util/ids";

type Result = Response["result"];
type OkCase = Exclude<Result["case"], "error" | undefined>;
type ResultMap = {
  [R in Result as R extends { case: infer K extends string } ? K : never]: R extends { value: infer V } ? V : never;
};
type ResultOf<C extends OkCase> = ResultMap[C];

export interface ItemChange {
  title?: string;
  description?: string;
  type?: WorkItemType;
  priority?: Priority;
  /** "" clears. */
  assigneeId?: string;
  /** "" clears. */
  sprintId?: string;
  /** null clears. */
  storyPoints?: number | null;
}

export class Actions {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Called with a created project's id (to open it). */
  onProjectCreated: (id: string) => void = () => {};

  constructor(
    private readonly store: Store,
    private readonly socket: () => Socket,
    private readonly toasts: Toasts,
  ) {}

  // --- the machinery -------------------------------------------------------------------

  /** Runs `task` after the earlier changes of the same entity have been answered. */
  private chain<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => undefined);
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return run;
  }

  /**
   * Sends a command (with an overlay on `board` until the answer) and returns its result,
   * or null after showing why it failed.
   */
  private async send<C extends OkCase>(
    expect: C,
    payload: Payload | (() => Payload | null),
    options: { rid?: string; board?: BoardModel | null; overlay?: Overlay; what: string; conflict?: (error: PmError) => string },
  ): Promise<ResultOf<C> | null> {
    const rid = options.rid ?? options.overlay?.rid ?? requestId(expect);
    const board = options.board ?? null;
    let response: Response;
    try {
      const body = typeof payload === "function" ? payload() : payload;
      if (!body) {
        if (options.overlay) board?.dropOverlay(rid);
        this.store.emit("board");
        return null;
      }
      response = await this.socket().request(body, { rid });
    } catch {
      if (options.overlay) board?.dropOverlay(rid);
      this.store.emit("board");
      return null;
    }
    const result = response.result;
    if (result.case === "error") {
      this.adoptCurrent(board, result.value);
      if (options.overlay) board?.dropOverlay(rid);
      this.store.emit("board");
      this.report(options.what, result.value, options.conflict);
      return null;
    }
    if (result.case !== expect) {
      if (options.overlay) board?.dropOverlay(rid);
      this.store.emit("board");
      return null;
    }
    const value: unknown = result.value;
    return value as ResultOf<C>;
  }

  /** After a success the caller has stored the server's entities: the overlay can go. */
  private settle(board: BoardModel | null | undefined, rid?: string): void {
    if (board && rid) board.dropOverlay(rid);
    this.store.emit("board");
  }

  /** CONFLICT carries the entity as it is now: it becomes the state. */
  private adoptCurrent(board: BoardModel | null, error: PmError): void {
    const current = error.current;
    switch (current.case) {
      case "workItem":
        board?.upsertItem(current.value);
        break;
      case "project":
        this.store.projects.upsert(current.value);
        board?.upsertProject(current.value);
        this.store.emit("projects");
        break;
      case "swimLane":
        board?.upsertLane(current.value);
        break;
      case "sprint":
        board?.upsertSprint(current.value);
        break;
      case "dependency":
        board?.upsertDependency(current.value);
        break;
      default:
        break;
    }
  }

  private report(what: string, error: PmError, conflict?: (error: PmError) => string): void {
    if (error.code === ErrorCode.CONFLICT) {
      const now = conflict ? conflict(error) : "";
      this.toasts.show(
        "conflict",
        `${what}: someone else changed it first${now ? `; ${now}` : ""}. Your change was not applied.`,
      );
      return;
    }
    if (error.code === ErrorCode.PERMISSION_DENIED) {
      this.toasts.error(`${what}: not allowed for your role.`);
      return;
    }
    if (error.code === ErrorCode.RESOURCE_EXHAUSTED && error.retryAfterMs > 0) {
      // A rate limit: nothing ran; say when sending again is worth it.
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
      this.toasts.error(`${what}: the server is busy; try again in ${seconds}s.`);
      return;
    }
    this.toasts.error(`${what}: ${error.message || ErrorCode[error.code]}`);
  }

  private boardOf(projectId?: string): BoardModel | null {
    const board = this.store.board;
    return board && (!projectId || board.id === projectId) ? board : null;
  }

  // --- projects --------------------------------------------------------------------------

  async createProject(key: string, name: string): Promise<boolean> {
    const id = uuid();
    const now = BigInt(Date.now());
    const list = this.store.projects;
    list.upsert(create(ProjectSchema, { id, key, name, version: 0n, createdAtMs: now }));
    list.pending.add(id);
    this.store.emit("projects");
    const result = await this.send(
      "createProject",
      { case: "createProject", value: create(CreateProjectSchema, { id, key, name }) },
      { what: `Creating project ${key}` },
    );
    list.pending.delete(id);
    if (!result) {
      list.remove(id);
      this.store.emit("projects");
      return false;
    }
    list.upsert(result.project);
    this.store.emit("projects");
    this.onProjectCreated(id);
    return true;
  }

  // --- work items ------------------------------------------------------------------------

  async createItem(status: string, title: string, type: WorkItemType, sprintId = ""): Promise<WorkItem | null> {
    const board = this.boardOf();
    if (!board) return null;
    const id = uuid();
    const rid = requestId("create-item");
    const now = BigInt(Date.now());
    const draft = create(WorkItemSchema, {
      id,
      projectId: board.id,
      type,
      status,
      title,
      priority: Priority.MEDIUM,
      sprintId,
      rank: "\uffff",
      createdAtMs: now,
      updatedAtMs: now,
      createdBy: this.store.userId,
    });
    board.addOverlay({ kind: "item-create", rid, item: draft });
    this.store.emit("board");
    const result = await this.send(
      "createWorkItem",
      {
        case: "createWorkItem",
        value: create(CreateWorkItemSchema, { id, projectId: board.id, type, title, status, sprintId }),
      },
      { rid, board, overlay: { kind: "item-create", rid, item: draft }, what: `Creating “${title}”` },
    );
    if (!result) return null;
    board.upsertItem(result.workItem);
    this.settle(board, rid);
    return result.workItem ?? null;
  }

  updateItem(itemId: string, change: ItemChange): Promise<boolean> {
    const board = this.boardOf();
    const item = board?.items.get(itemId);
    if (!board || !item) return Promise.resolve(false);
    const rid = requestId("update-item");
    const patch: Partial<WorkItem> = {};
    if (change.title !== undefined) patch.title = change.title;
    if (change.description !== undefined) patch.description = change.description;
    if (change.type !== undefined) patch.type = change.type;
    if (change.priority !== undefined) patch.priority = change.priority;
    if (change.assigneeId !== undefined) patch.assigneeId = change.assigneeId;
    if (change.sprintId !== undefined) patch.sprintId = change.sprintId;
    if (change.storyPoints !== undefined) patch.storyPoints = change.storyPoints ?? undefined;
    const overlay: Overlay = { kind: "item-patch", rid, itemId, patch };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(itemId, async () => {
      const result = await this.send(
        "updateWorkItem",
        () => {
          const current = board.items.get(itemId);
          if (!current) return null;
          return {
            case: "updateWorkItem",
            value: create(UpdateWorkItemSchema, {
              workItemId: itemId,
              expectedVersion: current.version,
              title: change.title,
              description: change.description,
              type: change.type,
              priority: change.priority,
              assigneeId: change.assigneeId ? change.assigneeId : undefined,
              clearAssigneeId: change.assigneeId === "",
              sprintId: change.sprintId ? change.sprintId : undefined,
              clearSprintId: change.sprintId === "",
              storyPoints: typeof change.storyPoints === "number" ? change.storyPoints : undefined,
              clearStoryPoints: change.storyPoints === null,
            }),
          };
        },
        {
          rid,
          board,
          overlay,
          what: `Updating ${item.key || "the card"}`,
          conflict: (error) => this.describeItemNow(error, change),
        },
      );
      if (!result) return false;
      board.upsertItem(result.workItem);
      this.settle(board, rid);
      return true;
    });
  }

  /** The current values (from a CONFLICT's entity) of the fields a change touched. */
  private describeItemNow(error: PmError, change: ItemChange): string {
    if (error.current.case !== "workItem") return "";
    const now = error.current.value;
    const parts: string[] = [];
    if (change.title !== undefined) parts.push(`title is now “${now.title}”`);
    if (change.description !== undefined) parts.push("the description changed");
    if (change.type !== undefined) parts.push(`type is now ${typeName(now.type)}`);
    if (change.priority !== undefined) parts.push(`priority is now ${priorityName(now.priority)}`);
    if (change.assigneeId !== undefined)
      parts.push(`assignee is now ${now.assigneeId ? this.store.users.name(now.assigneeId) : "nobody"}`);
    if (change.sprintId !== undefined) parts.push(`sprint is now ${this.sprintName(now.sprintId)}`);
    if (change.storyPoints !== undefined) parts.push(`points are now ${now.storyPoints ?? "none"}`);
    return parts.join(", ");
  }

  private sprintName(id: string): string {
    if (!id) return "none";
    return this.store.board?.sprints.get(id)?.name ?? "another sprint";
  }

  moveItem(itemId: string, status: string, placement: Placement): Promise<boolean> {
    const board = this.boardOf();
    const item = board?.items.get(itemId) ?? board?.view().items.get(itemId);
    if (!board || !item) return Promise.resolve(false);
    const rid = requestId("move-item");
    const overlay: Overlay = { kind: "item-move", rid, itemId, status, placement };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(itemId, async () => {
      const result = await this.send(
        "moveWorkItem",
        () => {
          const current = board.items.get(itemId);
          if (!current) return null;
          return {
            case: "moveWorkItem",
            value: create(MoveWorkItemSchema, {
              workItemId: itemId,
              expectedVersion: current.version,
              status,
              beforeId: placement.beforeId,
              afterId: placement.afterId,
            }),
          };
        },
        {
          rid,
          board,
          overlay,
          what: `Moving ${item.key || "the card"}`,
          conflict: (error) =>
            error.current.case === "workItem" ? `it is now in ${this.laneName(error.current.value.status)}` : "",
        },
      );
      if (!result) return false;
      board.upsertItem(result.workItem);
      this.settle(board, rid);
      return true;
    });
  }

  private laneName(status: string): string {
    for (const lane of this.store.board?.lanes.values() ?? []) if (lane.statusValue === status) return lane.name;
    return status;
  }

  deleteItem(itemId: string): Promise<boolean> {
    const board = this.boardOf();
    const item = board?.items.get(itemId);
    if (!board || !item) return Promise.resolve(false);
    const rid = requestId("delete-item");
    const descendants = this.descendants(board, itemId);
    const overlay: Overlay = { kind: "item-delete", rid, itemIds: [itemId, ...descendants] };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(itemId, async () => {
      const result = await this.send(
        "deleteWorkItem",
        () => {
          const current = board.items.get(itemId);
          if (!current) return null;
          return {
            case: "deleteWorkItem",
            value: create(DeleteWorkItemSchema, { workItemId: itemId, expectedVersion: current.version }),
          };
        },
        { rid, board, overlay, what: `Deleting ${item.key}` },
      );
      if (!result) return false;
      board.removeItems(result.workItemIds);
      board.removeDependencies(result.dependencyIds);
      this.settle(board, rid);
      const extra = result.workItemIds.length - 1;
      this.toasts.show("undo", `Deleted ${item.key}${extra > 0 ? ` and ${extra} below it` : ""}.`, {
        label: "Undo",
        testid: "toast-undo",
        run: () => void this.restoreItem(itemId, item.key),
      });
      return true;
    });
  }

  private descendants(board: BoardModel, rootId: string): string[] {
    const out: string[] = [];
    const queue = [rootId];
    while (queue.length) {
      const parent = queue.shift()!;
      for (const item of board.items.values()) {
        if (item.parentId === parent && !out.includes(item.id)) {
          out.push(item.id);
          queue.push(item.id);
        }
      }
    }
    return out;
  }

  async restoreItem(itemId: string, key: string): Promise<boolean> {
    const board = this.boardOf();
    const result = await this.send(
      "restoreWorkItem",
      { case: "restoreWorkItem", value: create(RestoreWorkItemSchema, { workItemId: itemId }) },
      { board, what: `Restoring ${key}` },
    );
    if (!result) return false;
    for (const item of result.workItems) board?.upsertItem(item);
    for (const dep of result.dependencies) board?.upsertDependency(dep);
    this.settle(board);
    this.toasts.info(`Restored ${key}.`);
    return true;
  }

  // --- swim lanes (admins) ---------------------------------------------------------------

  async createLane(name: string, statusValue: string): Promise<boolean> {
    const board = this.boardOf();
    if (!board) return false;
    const id = uuid();
    const rid = requestId("create-lane");
    const lane = create(SwimLaneSchema, {
      id,
      projectId: board.id,
      name,
      statusValue,
      position: board.lanes.size + 1000,
    });
    const overlay: Overlay = { kind: "lane-create", rid, lane };
    board.addOverlay(overlay);
    this.store.emit("board");
    const result = await this.send(
      "createSwimLane",
      { case: "createSwimLane", value: create(CreateSwimLaneSchema, { id, projectId: board.id, name, statusValue }) },
      { rid, board, overlay, what: `Adding lane “${name}”` },
    );
    if (!result) return false;
    board.setLanes(result.lanes);
    board.upsertLane(result.lane);
    this.settle(board, rid);
    return true;
  }

  renameLane(laneId: string, name: string): Promise<boolean> {
    const board = this.boardOf();
    const lane = board?.lanes.get(laneId);
    if (!board || !lane) return Promise.resolve(false);
    const rid = requestId("rename-lane");
    const overlay: Overlay = { kind: "lane-patch", rid, laneId, name };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(laneId, async () => {
      const result = await this.send(
        "updateSwimLane",
        () => {
          const current = board.lanes.get(laneId);
          if (!current) return null;
          return {
            case: "updateSwimLane",
            value: create(UpdateSwimLaneSchema, { laneId, expectedVersion: current.version, name }),
          };
        },
        {
          rid,
          board,
          overlay,
          what: `Renaming lane “${lane.name}”`,
          conflict: (error) => (error.current.case === "swimLane" ? `it is now “${error.current.value.name}”` : ""),
        },
      );
      if (!result) return false;
      board.upsertLane(result.lane);
      this.settle(board, rid);
      return true;
    });
  }

  reorderLanes(laneIds: string[]): Promise<boolean> {
    const board = this.boardOf();
    if (!board) return Promise.resolve(false);
    const rid = requestId("reorder-lanes");
    const overlay: Overlay = { kind: "lane-order", rid, laneIds };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(board.id, async () => {
      const result = await this.send(
        "reorderSwimLanes",
        () => ({
          case: "reorderSwimLanes",
          value: create(ReorderSwimLanesSchema, {
            projectId: board.id,
            laneIds,
            expectedVersion: board.project.version,
          }),
        }),
        { rid, board, overlay, what: "Reordering lanes" },
      );
      if (!result) return false;
      board.setLanes(result.lanes);
      board.upsertProject(result.project);
      this.settle(board, rid);
      return true;
    });
  }

  deleteLane(laneId: string): Promise<boolean> {
    const board = this.boardOf();
    const lane = board?.lanes.get(laneId);
    if (!board || !lane) return Promise.resolve(false);
    const rid = requestId("delete-lane");
    const overlay: Overlay = { kind: "lane-delete", rid, laneId };
    board.addOverlay(overlay);
    this.store.emit("board");
    return this.chain(laneId, async () => {
      const result = await this.send(
        "deleteSwimLane",
        () => {
          const current = board.lanes.get(laneId);
          if (!current) return null;
          return {
            case: "deleteSwimLane",
            value: create(DeleteSwimLaneSchema, { laneId, expectedVersion: current.version }),
          };
        },
        { rid, board, overlay, what: `Deleting lane “${lane.name}”` },
      );
      if (!result) return false;
      board.setLanes(result.lanes);
      board.lanes.delete(laneId);
      board.changed(true);
      this.settle(board, rid);
      return true;
    });
  }

  // --- sprints ---------------------------------------------------------------------------

  async createSprint(name: string, startMs: number, endMs: number, goal = ""): Promise<boolean> {
    const board = this.boardOf();
    if (!board) return false;
    const id = uuid();
    const rid = requestId("create-sprint");
    const sprint = create(SprintSchema, {
      id,
      projectId: board.id,
      name,
      goal,
      state: SprintState.PLANNED,
      startDateMs: BigInt(startMs),
      endDateMs: BigInt(endMs),
    });
    const overlay: Overlay = { kind: "sprint-create", rid, sprint };
    board.addOverlay(overlay);
    this.store.emit("board");
    const result = await this.send(
      "createSprint",
      {
        case: "createSprint",
        value: create(CreateSprintSchema, {
          id,
          projectId: board.id,
          name,
          goal,
          startDateMs: BigInt(startMs),
          endDateMs: BigInt(endMs),
        }),
      },
      { rid, board, overlay, what: `Planning sprint “${name}”` },
    );
    if (!result) return false;
    board.upsertSprint(result.sprint);
    this.settle(board, rid);
    return true;
  }

  startSprint(sprintId: string): Promise<boolean> {
    return this.sprintCommand(sprintId, "start");
  }

  completeSprint(sprintId: string, carryOverSprintId: string): Promise<boolean> {
    return this.sprintCommand(sprintId, "complete", carryOverSprintId);
  }

  private sprintCommand(sprintId: string, verb: "start" | "complete", carryOver = ""): Promise<boolean> {
    const board = this.boardOf();
    const sprint = board?.sprints.get(sprintId);
    if (!board || !sprint) return Promise.resolve(false);
    const rid = requestId(`${verb}-sprint`);
    const state = verb === "start" ? SprintState.ACTIVE : SprintState.COMPLETED;
    const overlay: Overlay = { kind: "sprint-patch", rid, sprintId, patch: { state } };
    board.addOverlay(overlay);
    this.store.emit("board");
    const what = `${verb === "start" ? "Starting" : "Completing"} sprint “${sprint.name}”`;
    return this.chain(sprintId, async () => {
      const version = () => board.sprints.get(sprintId)?.version ?? 0n;
      if (verb === "start") {
        const result = await this.send(
          "startSprint",
          () => ({ case: "startSprint", value: create(StartSprintSchema, { sprintId, expectedVersion: version() }) }),
          { rid, board, overlay, what },
        );
        if (!result) return false;
        board.upsertSprint(result.sprint);
      } else {
        const result = await this.send(
          "completeSprint",
          () => ({
            case: "completeSprint",
            value: create(CompleteSprintSchema, {
              sprintId,
              expectedVersion: version(),
              carryOverSprintId: carryOver,
            }),
          }),
          { rid, board, overlay, what },
        );
        if (!result) return false;
        board.upsertSprint(result.sprint);
        const moved = result.movedWorkItemIds.length;
        if (moved) this.toasts.info(`${moved} unfinished item${moved === 1 ? "" : "s"} moved on.`);
      }
      this.settle(board, rid);
      return true;
    });
  }

  // --- dependencies ----------------------------------------------------------------------

  /** Returns the server's message when refused (a cycle names itself), "" when added. */
  async addDependency(fromId: string, toId: string, type: DependencyType): Promise<string> {
    const board = this.boardOf();
    const id = uuid();
    const rid = requestId("create-dependency");
    const dependency = create(DependencySchema, { id, fromItemId: fromId, toItemId: toId, type });
    const overlay: Overlay = { kind: "dep-create", rid, dependency };
    board?.addOverlay(overlay);
    this.store.emit("board");
    let refusal = "";
    let response: Response;
    try {
      response = await this.socket().request(
        { case: "createDependency", value: create(CreateDependencySchema, { id, fromItemId: fromId, toItemId: toId, type }) },
        { rid },
      );
    } catch {
      board?.dropOverlay(rid);
      this.store.emit("board");
      return "The connection closed.";
    }
    board?.dropOverlay(rid);
    const result = response.result;
    if (result.case === "createDependency") {
      board?.upsertDependency(result.value.dependency);
    } else if (result.case === "error") {
      refusal = result.value.message || ErrorCode[result.value.code] || "refused";
      this.toasts.error(`Adding the dependency: ${refusal}`);
    }
    this.store.emit("board");
    this.store.emit("item", toId);
    this.store.emit("item", fromId);
    return refusal;
  }

  async removeDependency(dependencyId: string, version: bigint, itemId: string): Promise<boolean> {
    const board = this.boardOf();
    const rid = requestId("delete-dependency");
    const overlay: Overlay = { kind: "dep-delete", rid, dependencyId };
    board?.addOverlay(overlay);
    this.store.emit("board");
    const result = await this.send(
      "deleteDependency",
      () => ({
        case: "deleteDependency",
        value: create(DeleteDependencySchema, {
          dependencyId,
          expectedVersion: board?.dependencies.get(dependencyId)?.version ?? version,
        }),
      }),
      { rid, board, overlay, what: "Removing the dependency" },
    );
    if (!result) return false;
    board?.removeDependencies([dependencyId]);
    this.settle(board, rid);
    this.store.emit("item", itemId);
    return true;
  }

  // --- comments and time -----------------------------------------------------------------

  async addComment(itemId: string, content: string, parentCommentId = "", id = uuid()): Promise<Comment | null> {
    const result = await this.send(
      "createComment",
      {
        case: "createComment",
        value: create(CreateCommentSchema, { id, workItemId: itemId, content, parentCommentId }),
      },
      { what: "Adding the comment" },
    );
    if (!result) return null;
    this.settle(null);
    this.store.emit("item", itemId);
    return result.comment ?? null;
  }

  async startTimer(itemId: string): Promise<boolean> {
    const result = await this.send(
      "startTimer",
      { case: "startTimer", value: create(StartTimerSchema, { id: uuid(), workItemId: itemId }) },
      { what: "Starting the timer" },
    );
    if (!result) return false;
    this.store.runningTimer = result.started ?? null;
    this.settle(null);
    this.store.emit("timer");
    this.store.emit("item", itemId);
    if (result.stopped) this.store.emit("item", result.stopped.workItemId);
    return true;
  }

  async stopTimer(): Promise<boolean> {
    const running = this.store.runningTimer;
    const result = await this.send(
      "stopTimer",
      { case: "stopTimer", value: create(StopTimerSchema, { timeEntryId: running?.id ?? "" }) },
      { what: "Stopping the timer" },
    );
    if (!result) return false;
    this.store.runningTimer = null;
    this.settle(null);
    this.store.emit("timer");
    if (result.timeEntry) this.store.emit("item", result.timeEntry.workItemId);
    return true;
  }

  // --- session-level ---------------------------------------------------------------------

  /** What this user is looking at (a card, or "" for the board); presence only. */
  setViewing(itemId: string): void {
    const board = this.store.board;
    const socket = this.socket();
    if (!board || !socket.online) return;
    socket
      .request(
        { case: "setViewing", value: create(SetViewingSchema, { projectId: board.id, workItemId: itemId }) },
        { resend: false },
      )
      .then((response) => {
        if (response.result.case === "setViewing" && response.result.value.presence) {
          this.store.presence.set(response.result.value.presence);
          this.store.emit("presence");
        }
      })
      .catch(() => undefined);
  }

  /** Moves the open connection's expiry to a new token's. */
  async refreshToken(token: string): Promise<boolean> {
    const socket = this.socket();
    if (!socket.online) return false;
    let response: Response;
    try {
      response = await socket.request({ case: "refreshToken", value: create(RefreshTokenSchema, { token }) }, { resend: false });
    } catch {
      return false;
    }
    if (response.result.case === "refreshToken") {
      this.store.roles = response.result.value.roles;
      this.store.emit("auth");
      return true;
    }
    if (response.result.case === "error") this.toasts.error(`Renewing the session: ${response.result.value.message}`);
    return false;
  }
}
