// The read-only REST API (/api/v1): the board's bulk loads. The token goes in the
// Authorization header only; each body carries the seq and epoch it reflects.

import {
  ActivityEntrySchema,
  CommentThreadSchema,
  DependencySchema,
  ProjectSchema,
  SwimLaneSchema,
  TimeEntrySchema,
  UserSchema,
  WorkItemSchema,
  type ActivityEntry,
  type CommentThread,
  type Dependency,
  type Project,
  type SwimLane,
  type TimeEntry,
  type User,
  type WorkItem,
} from "../gen/pm/v1/entities_pb";
import { GetSprintStatsResultSchema, type GetSprintStatsResult } from "../gen/pm/v1/sprints_pb";
import { TimeTotalSchema, type TimeTotal } from "../gen/pm/v1/time_entries_pb";
import { apiUrl } from "./paths";
import { fromRest, listFromRest } from "./restjson";

export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field = "",
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

export class Rest {
  /** Called on a 401: the token is refused (expired, revoked, wrongly signed). */
  onUnauthenticated: () => void = () => {};

  constructor(private readonly token: () => string) {}

  async get(path: string, params: Record<string, string> = {}): Promise<Json> {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
    let response: Response;
    try {
      response = await fetch(apiUrl(path) + (query ? `?${query}` : ""), {
        headers: { Authorization: `Bearer ${this.token()}`, Accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new RestError(0, "UNAVAILABLE", "the server cannot be reached");
    }
    let body: Json = {};
    try {
      body = (await response.json()) as Json;
    } catch {
      body = {};
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthenticated();
      throw new RestError(
        response.status,
        typeof body.code === "string" ? body.code : "HTTP_" + response.status,
        typeof body.message === "string" ? body.message : response.statusText,
        typeof body.field === "string" ? body.field : "",
      );
    }
    return body;
  }

  async projects(): Promise<ProjectList> {
    const body = await this.get("/projects");
    const rows = Array.isArray(body.projects) ? (body.projects as Json[]) : [];
    return {
      projects: rows.map((row) => fromRest(ProjectSchema, row.project)),
      seq: BigInt(Number(body.seq ?? 0)),
      epoch: String(body.epoch ?? ""),
    };
  }

  async context(projectId: string): Promise<ProjectContext> {
    const body = await this.get(`/projects/${encodeURIComponent(projectId)}/context`);
    const lanes = Array.isArray(body.lanes) ? (body.lanes as Json[]) : [];
    const deps = Array.isArray(body.dependencies) ? (body.dependencies as Json[]) : [];
    return {
      project: fromRest(ProjectSchema, body.project),
      lanes: lanes.map((row) => fromRest(SwimLaneSchema, row.lane)),
      sprints: listFromRest(GetSprintStatsResultSchema, body.sprints),
      workItems: listFromRest(WorkItemSchema, body.work_items),
      dependencies: deps.map((row) => ({
        dependency: fromRest(DependencySchema, row.dependency),
        fromKey: String(row.from_key ?? ""),
        toKey: String(row.to_key ?? ""),
        blocking: row.blocking === true,
      })),
      blockedItemIds: Array.isArray(body.blocked_item_ids) ? (body.blocked_item_ids as string[]) : [],
      users: listFromRest(UserSchema, body.users),
      seq: BigInt(Number(body.current_seq ?? body.seq ?? 0)),
      epoch: String(body.epoch ?? ""),
    };
  }

  async workItem(itemId: string): Promise<WorkItemView> {
    return workItemView(await this.get(`/work-items/${encodeURIComponent(itemId)}`));
  }

  async workItemByNumber(projectId: string, number: string): Promise<WorkItemView> {
    return workItemView(
      await this.get(`/projects/${encodeURIComponent(projectId)}/items/${encodeURIComponent(number)}`),
    );
  }

  async search(q: string, projectId: string): Promise<SearchHit[]> {
    const body = await this.get("/search", { q, project_id: projectId, limit: "20" });
    const hits = Array.isArray(body.hits) ? (body.hits as Json[]) : [];
    return hits.map((hit) => {
      const item = (hit.work_item ?? {}) as Json;
      return {
        kind: String(hit.kind ?? ""),
        itemId: String(item.id ?? ""),
        key: String(item.key ?? ""),
        projectId: String(item.project_id ?? ""),
        title: String(item.title ?? ""),
        status: String(item.status ?? ""),
        commentId: typeof hit.comment_id === "string" ? hit.comment_id : "",
        snippet: String(hit.snippet ?? ""),
      };
    });
  }
}

function workItemView(body: Json): WorkItemView {
  const deps = Array.isArray(body.dependencies) ? (body.dependencies as Json[]) : [];
  return {
    workItem: fromRest(WorkItemSchema, body.work_item),
    comments: listFromRest(CommentThreadSchema, body.comments),
    dependencies: deps.map((row) => {
      const other = (row.other_item ?? {}) as Json;
      return {
        relation: String(row.relation ?? "") as Relation,
        dependency: fromRest(DependencySchema, row.dependency),
        other: {
          id: String(other.id ?? ""),
          projectId: String(other.project_id ?? ""),
          key: String(other.key ?? ""),
          title: String(other.title ?? ""),
          status: String(other.status ?? ""),
        },
      };
    }),
    isBlocked: body.is_blocked === true,
    timeEntries: listFromRest(TimeEntrySchema, body.time_entries),
    timeTotalSeconds: Number(body.time_total_seconds ?? 0),
    timeTotals: listFromRest(TimeTotalSchema, body.time_totals),
    history: listFromRest(ActivityEntrySchema, body.history),
    seq: BigInt(Number(body.seq ?? 0)),
  };
}

export interface ProjectList {
  projects: Project[];
  seq: bigint;
  epoch: string;
}

export interface ContextDependency {
  dependency: Dependency;
  fromKey: string;
  toKey: string;
  blocking: boolean;
}

export interface ProjectContext {
  project: Project;
  lanes: SwimLane[];
  sprints: GetSprintStatsResult[];
  workItems: WorkItem[];
  dependencies: ContextDependency[];
  blockedItemIds: string[];
  users: User[];
  seq: bigint;
  epoch: string;
}

export type Relation = "blocked_by" | "blocks" | "relates_to";

export interface OtherItem {
  id: string;
  projectId: string;
  key: string;
  title: string;
  status: string;
}

export interface ViewDependency {
  relation: Relation;
  dependency: Dependency;
  other: OtherItem;
}

export interface WorkItemView {
  workItem: WorkItem;
  comments: CommentThread[];
  dependencies: ViewDependency[];
  isBlocked: boolean;
  timeEntries: TimeEntry[];
  timeTotalSeconds: number;
  timeTotals: TimeTotal[];
  history: ActivityEntry[];
  seq: bigint;
}

export interface SearchHit {
  kind: string;
  itemId: string;
  key: string;
  projectId: string;
  title: string;
  status: string;
  commentId: string;
  snippet: string;
}
