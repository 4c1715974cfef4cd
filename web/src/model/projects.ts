// The tenant's projects, kept live by the tenant feed.

import type { Event } from "../gen/pm/v1/envelope_pb";
import type { Project } from "../gen/pm/v1/entities_pb";

export class ProjectList {
  readonly projects = new Map<string, Project>();
  /** Client ids of projects this tab is creating (shown before the answer). */
  readonly pending = new Set<string>();
  loaded = false;

  load(projects: readonly Project[]): void {
    this.projects.clear();
    for (const project of projects) this.projects.set(project.id, project);
    this.loaded = true;
  }

  upsert(project: Project | undefined): void {
    if (!project) return;
    const existing = this.projects.get(project.id);
    if (!existing || project.version >= existing.version) this.projects.set(project.id, project);
  }

  remove(id: string): void {
    this.projects.delete(id);
  }

  /** Applies a project-level event; true when the list changed. */
  apply(event: Event): boolean {
    const change = event.change;
    switch (change.case) {
      case "projectCreated":
        this.upsert(change.value.project);
        return true;
      case "projectUpdated":
        this.upsert(change.value.project);
        return true;
      case "projectDeleted":
        this.remove(change.value.projectId);
        return true;
      default:
        return false;
    }
  }

  sorted(): Project[] {
    return [...this.projects.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  byKey(key: string): Project | undefined {
    const wanted = key.toUpperCase();
    for (const project of this.projects.values()) if (project.key === wanted) return project;
    return undefined;
  }
}
