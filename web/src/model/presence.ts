// Who is on which board, and which card each is viewing: full lists per project, never deltas.

import type { PresenceEntry } from "../gen/pm/v1/entities_pb";
import type { PresenceUpdate } from "../gen/pm/v1/session_pb";

export class Presence {
  private readonly byProject = new Map<string, PresenceEntry[]>();

  set(update: PresenceUpdate): void {
    this.byProject.set(update.projectId, update.entries);
  }

  clear(projectId?: string): void {
    if (projectId) this.byProject.delete(projectId);
    else this.byProject.clear();
  }

  entries(projectId: string): PresenceEntry[] {
    return this.byProject.get(projectId) ?? [];
  }

  /** Work item id -> the users viewing it. */
  viewers(projectId: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const entry of this.entries(projectId)) {
      if (!entry.viewingWorkItemId) continue;
      const list = out.get(entry.viewingWorkItemId) ?? [];
      list.push(entry.userId);
      out.set(entry.viewingWorkItemId, list);
    }
    return out;
  }
}
