// User ids to names (ListUsers, and the users a context names).

import type { User } from "../gen/pm/v1/entities_pb";

export class Users {
  readonly byId = new Map<string, User>();

  add(users: readonly User[]): boolean {
    let changed = false;
    for (const user of users) {
      const existing = this.byId.get(user.id);
      if (!existing || existing.name !== user.name || existing.email !== user.email) {
        this.byId.set(user.id, user);
        changed = true;
      }
    }
    return changed;
  }

  name(id: string): string {
    if (!id) return "";
    const user = this.byId.get(id);
    return user?.name || user?.email || id;
  }

  sorted(): User[] {
    return [...this.byId.values()].sort((a, b) => this.name(a.id).localeCompare(this.name(b.id)));
  }

  missing(ids: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const id of ids) if (id && !this.byId.has(id)) out.add(id);
    return [...out];
  }
}
