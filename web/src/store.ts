// The page's state in one place, with change notifications by topic. Modules read it and
// subscribe to what they show; only the session and the actions write it.

import type { TimeEntry } from "./gen/pm/v1/entities_pb";
import type { StoredToken } from "./auth/tokenstore";
import type { BoardModel } from "./model/board";
import { Presence } from "./model/presence";
import { ProjectList } from "./model/projects";
import { Users } from "./model/users";
import type { ConnState } from "./net/socket";

export type Topic =
  | "auth"
  | "connection"
  | "projects"
  | "board"
  | "presence"
  | "users"
  | "timer"
  /** An item's comments, time, dependencies or history may have changed (payload: id). */
  | "item";

type Listener = (detail?: string) => void;

export class Store {
  auth: StoredToken | null = null;
  roles: string[] = [];
  userId = "";
  tenantId = "";
  connection: { state: ConnState; detail: string } = { state: "offline", detail: "" };
  readonly projects = new ProjectList();
  board: BoardModel | null = null;
  /** The project the page wants on screen (it may still be loading). */
  wantedProjectId = "";
  readonly users = new Users();
  readonly presence = new Presence();
  runningTimer: TimeEntry | null = null;
  /** The card open in the side panel. */
  openItemId = "";
  /** The sprint filter: "" every item, "none" items without a sprint, else a sprint id. */
  sprintFilter = "";

  private readonly listeners = new Map<Topic, Set<Listener>>();

  on(topic: Topic, listener: Listener): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(topic: Topic, detail?: string): void {
    for (const listener of this.listeners.get(topic) ?? []) listener(detail);
  }

  get isAdmin(): boolean {
    return this.roles.includes("admin");
  }

  get canWrite(): boolean {
    return this.roles.includes("admin") || this.roles.includes("member") || this.roles.length === 0;
  }
}
