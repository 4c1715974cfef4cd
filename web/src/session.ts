// Keeping the page in step with the server: the bulk loads (REST), the subscriptions (tenant
// feed and the open project), resuming after a drop with since_seq and epoch (nothing missed,
// nothing twice), RESYNC_REQUIRED answered by a reload in bulk, and events applied as they
// come. Subscription changes run one at a time, in order.

import { create } from "@bufbuild/protobuf";
import { ErrorCode, type Event, type Response } from "./gen/pm/v1/envelope_pb";
import { SetViewingSchema, SubscribeSchema, UnsubscribeSchema, type PresenceUpdate, type Welcome } from "./gen/pm/v1/session_pb";
import { ListUsersSchema } from "./gen/pm/v1/users_pb";
import { GetRunningTimerSchema } from "./gen/pm/v1/time_entries_pb";
import { GetProjectSchema } from "./gen/pm/v1/projects_pb";
import { BoardModel, DONE } from "./model/board";
import { RestError, type Rest } from "./net/rest";
import { Disconnected, type CloseDecision, type ConnState, type Socket } from "./net/socket";
import { saveProjectId } from "./auth/tokenstore";
import type { Store } from "./store";
import type { Toasts } from "./ui/toast";

export interface SessionHooks {
  /** The token expired or is about to: get a new one (then the socket reconnects). */
  tokenExpired(): void;
  /** The server refused the token for good. */
  signOut(message: string): void;
}

export class Session {
  socket!: Socket;
  private tenantSeq = 0n;
  private epoch = "";
  private queue: Promise<unknown> = Promise.resolve();
  private failedOpens = 0;
  private usersTimer: number | undefined;
  private reloadPending = false;

  constructor(
    private readonly store: Store,
    private readonly rest: Rest,
    private readonly toasts: Toasts,
    private readonly hooks: SessionHooks,
  ) {}

  /** Runs `task` after every earlier subscription change. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // --- socket hooks --------------------------------------------------------------------

  onState(state: ConnState, detail: string): void {
    this.store.connection = { state, detail };
    this.store.emit("connection");
  }

  async onWelcome(welcome: Welcome): Promise<void> {
    this.failedOpens = 0;
    this.store.roles = welcome.roles;
    this.store.userId = welcome.userId;
    this.store.tenantId = welcome.tenantId;
    this.store.emit("auth");
    await this.serial(async () => {
      if (!this.store.projects.loaded) await this.loadProjects();
      const wanted = this.store.wantedProjectId;
      if (wanted && (!this.store.board || this.store.board.id !== wanted)) await this.loadBoard(wanted);
      await this.subscribeAll();
    });
    // After the gate opens (these are queued like any request).
    void this.fetchRunningTimer();
    void this.fetchAllUsers();
  }

  onClosed(code: number, reason: string, opened: boolean): CloseDecision {
    this.store.presence.clear();
    this.store.emit("presence");
    if (code === 4003) {
      this.hooks.tokenExpired();
      return "stop";
    }
    if (code === 4401) {
      this.hooks.signOut(reason || "The server no longer accepts this token.");
      return "stop";
    }
    if (code === 4029) {
      // Closed for sending too fast: come back after the usual backoff, but say why.
      this.toasts.error("The server closed the connection: too many requests. Reconnecting.");
      return "reconnect";
    }
    if (code >= 4400 && code <= 4499) {
      this.toasts.error(`The server closed the connection: ${reason || code}`);
      return "stop";
    }
    const claims = this.store.auth?.claims;
    if (claims && claims.exp * 1000 <= Date.now()) {
      this.hooks.tokenExpired();
      return "stop";
    }
    if (!opened) {
      this.failedOpens += 1;
      // A refused upgrade (401) looks like any failed connection: ask the REST face.
      if (this.failedOpens === 2 || this.failedOpens % 5 === 0) void this.probeToken();
    }
    return "reconnect";
  }

  private async probeToken(): Promise<void> {
    try {
      await this.rest.get("/projects");
    } catch (error) {
      if (error instanceof RestError && error.status === 401) {
        this.hooks.signOut("The server refused this token.");
      }
    }
  }

  onPresence(update: PresenceUpdate): void {
    const before = new Set(this.store.presence.entries(update.projectId).map((e) => e.userId));
    this.store.presence.set(update);
    this.store.emit("presence");
    // A user who just arrived may have connected with a new name (tokens carry names, and
    // a name changes without an event): ask again for the ones that joined.
    const joined = update.entries.map((e) => e.userId).filter((id) => !before.has(id) && id !== this.store.userId);
    this.wantUsers(joined, true);
    this.wantUsers(update.entries.map((e) => e.userId));
  }

  onEvent(event: Event): void {
    if (event.seq > this.tenantSeq) this.tenantSeq = event.seq;
    if (this.store.projects.apply(event)) this.store.emit("projects");
    this.noteTimer(event);
    const board = this.store.board;
    if (!board || !event.projectIds.includes(board.id) || event.seq <= board.seq) return;
    const effects = board.apply(event);
    this.store.emit("board");
    for (const id of effects.itemIds) this.store.emit("item", id);
    this.wantUsers([event.actorId]);
    if (board.deleted) {
      this.toasts.show("info", `Project ${board.project.key} was deleted.`);
      void this.openProject("");
      return;
    }
    if (effects.reload) this.scheduleBoardReload();
    for (const id of effects.unknownItemIds) void this.fetchFarItem(id);
    if (effects.kind === "swimLanesReordered") void this.refreshProject();
  }

  // --- loads and subscriptions -----------------------------------------------------------

  private async loadProjects(): Promise<void> {
    const list = await this.rest.projects();
    this.store.projects.load(list.projects);
    this.tenantSeq = list.seq;
    this.epoch = list.epoch;
    this.store.emit("projects");
  }

  private async loadBoard(projectId: string): Promise<void> {
    try {
      const context = await this.rest.context(projectId);
      if (this.store.wantedProjectId !== projectId) return;
      if (this.store.board && this.store.board.id === projectId) this.store.board.load(context);
      else this.store.board = new BoardModel(context);
      this.epoch = context.epoch;
      if (this.store.users.add(context.users)) this.store.emit("users");
      this.wantUsers(context.workItems.map((i) => i.assigneeId));
    } catch (error) {
      if (error instanceof RestError && (error.status === 404 || error.status === 422)) {
        this.toasts.error("That project does not exist (or was deleted).");
        this.store.wantedProjectId = "";
        this.store.board = null;
        saveProjectId("");
      } else {
        throw error;
      }
    } finally {
      this.store.emit("board");
    }
  }

  private sinceSeq(): bigint {
    const board = this.store.board;
    return board && board.seq < this.tenantSeq ? board.seq : this.tenantSeq;
  }

  /** The whole subscription of this connection, resuming from the seq last seen. */
  private async subscribeAll(attempt = 0): Promise<void> {
    const board = this.store.board;
    const response = await this.socket.sendNow({
      case: "subscribe",
      value: create(SubscribeSchema, {
        tenantFeed: true,
        projectIds: board ? [board.id] : [],
        sinceSeq: this.sinceSeq(),
        epoch: board?.epoch || this.epoch,
      }),
    });
    const result = response.result;
    if (result.case === "subscribe") {
      this.epoch = result.value.epoch;
      for (const update of result.value.presence) this.onPresence(update);
      await this.restoreViewing();
      return;
    }
    if (result.case === "error") {
      if (result.value.code === ErrorCode.RESYNC_REQUIRED && attempt < 3) {
        await this.reloadAll();
        return this.subscribeAll(attempt + 1);
      }
      if (result.value.code === ErrorCode.NOT_FOUND && board) {
        this.toasts.error(`Project ${board.project.key} is gone.`);
        this.store.board = null;
        this.store.wantedProjectId = "";
        saveProjectId("");
        this.store.emit("board");
        return this.subscribeAll(attempt + 1);
      }
      this.toasts.error(`Subscribing failed: ${result.value.message}`);
    }
  }

  /** A new subscription starts at "viewing the board": say which card is open, if one is. */
  private async restoreViewing(): Promise<void> {
    const board = this.store.board;
    const itemId = this.store.openItemId;
    if (!board || !itemId || !board.items.has(itemId)) return;
    const response = await this.send({
      case: "setViewing",
      value: create(SetViewingSchema, { projectId: board.id, workItemId: itemId }),
    });
    if (response?.result.case === "setViewing" && response.result.value.presence) {
      this.store.presence.set(response.result.value.presence);
      this.store.emit("presence");
    }
  }

  /** RESYNC_REQUIRED: everything again in bulk (the overlays wait for their answers). */
  private async reloadAll(): Promise<void> {
    await this.loadProjects();
    const wanted = this.store.wantedProjectId;
    if (wanted) await this.loadBoard(wanted);
    this.toasts.info("Reloaded the board from the server.");
  }

  /** Opens a project's board ("" closes it): bulk load, then subscribe from its seq. */
  openProject(projectId: string): Promise<void> {
    this.store.wantedProjectId = projectId;
    saveProjectId(projectId);
    return this.serial(async () => {
      const old = this.store.board;
      if (old && old.id === projectId) return;
      this.store.board = null;
      this.store.openItemId = "";
      this.store.emit("board");
      if (old) {
        this.store.presence.clear(old.id);
        this.store.emit("presence");
        if (this.socket.online) {
          await this.send({ case: "unsubscribe", value: create(UnsubscribeSchema, { projectIds: [old.id] }) });
        }
      }
      if (!projectId) return;
      await this.loadBoard(projectId);
      await this.subscribeBoard();
    });
  }

  private async subscribeBoard(): Promise<void> {
    const board = this.store.board;
    if (!board || !this.socket.online) return; // the next Welcome subscribes it
    const response = await this.send({
      case: "subscribe",
      value: create(SubscribeSchema, { projectIds: [board.id], sinceSeq: board.seq, epoch: board.epoch }),
    });
    const result = response?.result;
    if (result?.case === "subscribe") {
      for (const update of result.value.presence) this.onPresence(update);
      await this.restoreViewing();
    } else if (result?.case === "error") {
      if (result.value.code === ErrorCode.RESYNC_REQUIRED) {
        await this.reloadAll();
        await this.subscribeAll();
      } else {
        this.toasts.error(`Subscribing failed: ${result.value.message}`);
      }
    }
  }

  /** An event too large for a frame named its entities only: reload this board in bulk. */
  private scheduleBoardReload(): void {
    if (this.reloadPending) return;
    this.reloadPending = true;
    void this.serial(async () => {
      this.reloadPending = false;
      const board = this.store.board;
      if (!board) return;
      if (this.socket.online) {
        await this.send({ case: "unsubscribe", value: create(UnsubscribeSchema, { projectIds: [board.id] }) });
      }
      await this.loadBoard(board.id);
      await this.subscribeBoard();
    });
  }

  private async send(payload: Parameters<Socket["sendNow"]>[0]): Promise<Response | null> {
    try {
      return await this.socket.sendNow(payload);
    } catch (error) {
      if (error instanceof Disconnected) return null;
      throw error;
    }
  }

  private async refreshProject(): Promise<void> {
    const board = this.store.board;
    if (!board) return;
    const response = await this.request({ case: "getProject", value: create(GetProjectSchema, { projectId: board.id }) });
    if (response?.result.case === "getProject" && this.store.board === board) {
      board.upsertProject(response.result.value.project);
      this.store.emit("board");
    }
  }

  private async request(payload: Parameters<Socket["request"]>[0]): Promise<Response | null> {
    try {
      return await this.socket.request(payload, { resend: true });
    } catch {
      return null;
    }
  }

  /** A dependency's end in another project: its key and whether it is done. */
  private async fetchFarItem(itemId: string): Promise<void> {
    try {
      const view = await this.rest.workItem(itemId);
      const board = this.store.board;
      if (!board || board.items.has(itemId)) return;
      board.setFarItem({
        id: itemId,
        key: view.workItem.key,
        projectId: view.workItem.projectId,
        done: view.workItem.status === DONE,
      });
      this.store.emit("board");
    } catch {
      // shown without its key
    }
  }

  // --- users and the running timer -------------------------------------------------------

  private async fetchAllUsers(): Promise<void> {
    let pageToken = "";
    for (let page = 0; page < 20; page++) {
      const response = await this.request({
        case: "listUsers",
        value: create(ListUsersSchema, { pageSize: 500, pageToken }),
      });
      if (response?.result.case !== "listUsers") return;
      if (this.store.users.add(response.result.value.users)) this.store.emit("users");
      pageToken = response.result.value.nextPageToken;
      if (!pageToken) return;
    }
  }

  private readonly wanted = new Set<string>();

  /** Names for these user ids, fetched in one batch when some are unknown. */
  wantUsers(ids: Iterable<string>, evenIfKnown = false): void {
    for (const id of evenIfKnown ? ids : this.store.users.missing(ids)) if (id) this.wanted.add(id);
    if (this.wanted.size === 0 || this.usersTimer !== undefined) return;
    this.usersTimer = window.setTimeout(() => {
      this.usersTimer = undefined;
      const ids = [...this.wanted].slice(0, 500);
      ids.forEach((id) => this.wanted.delete(id));
      void this.request({ case: "listUsers", value: create(ListUsersSchema, { userIds: ids, pageSize: 500 }) }).then(
        (response) => {
          if (response?.result.case === "listUsers" && this.store.users.add(response.result.value.users)) {
            this.store.emit("users");
          }
        },
      );
    }, 150);
  }

  async fetchRunningTimer(): Promise<void> {
    const response = await this.request({ case: "getRunningTimer", value: create(GetRunningTimerSchema) });
    if (response?.result.case === "getRunningTimer") {
      this.store.runningTimer = response.result.value.timeEntry ?? null;
      this.store.emit("timer");
    }
  }

  private noteTimer(event: Event): void {
    const me = this.store.userId;
    const change = event.change;
    let changed = false;
    if (change.case === "timerStarted") {
      if (change.value.started?.userId === me) {
        this.store.runningTimer = change.value.started;
        changed = true;
      } else if (change.value.stopped?.userId === me && this.store.runningTimer?.id === change.value.stopped.id) {
        this.store.runningTimer = null;
        changed = true;
      }
    } else if (change.case === "timerStopped" || change.case === "timeEntryUpdated") {
      const entry = change.value.timeEntry;
      if (entry && entry.userId === me && this.store.runningTimer?.id === entry.id && !entry.running) {
        this.store.runningTimer = null;
        changed = true;
      }
    } else if (change.case === "timeEntryDeleted") {
      if (this.store.runningTimer?.id === change.value.timeEntryId) {
        this.store.runningTimer = null;
        changed = true;
      }
    }
    if (changed) this.store.emit("timer");
  }
}
