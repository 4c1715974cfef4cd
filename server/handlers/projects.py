"""Projects: CreateProject, UpdateProject, DeleteProject, GetProject, ListProjects.

Project-level events (created, updated, deleted) also reach tenant-feed subscribers.
"""

from __future__ import annotations

import re
import uuid

from pm.v1 import projects_pb2 as msg
from server.auth import Role
from server.commands import (
    Change,
    Commands,
    ReadContext,
    Unchanged,
    WriteContext,
    expect_version,
    fresh_id,
    load,
)
from server.field_changes import field_changes, log_changes
from server.paging import page_size
from server.validation import body, text
from server.wire.projects import lane_to_proto, project_to_proto
from tenants import cascade as cascade_delete
from tenants import projects, swim_lanes
from tenants.errors import AlreadyExists, InvalidArgument
from tenants.projects import ProjectRecord

commands = Commands()

KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}")


def load_project(ctx: ReadContext, project_id: str, field: str = "project_id") -> ProjectRecord:
    """A live project of this tenant, or NOT_FOUND."""
    return load(ctx, projects.get, project_id, field, "project")


def check_version(project: ProjectRecord, expected_version: int) -> None:
    expect_version(project, expected_version, "project", project_to_proto)


@commands.mutation("create_project")
def create_project(ctx: WriteContext, cmd: msg.CreateProject) -> Change:
    """Creates a project and its four default lanes."""
    key = cmd.key.strip()
    if not KEY.fullmatch(key):
        raise InvalidArgument(
            "key must be 2 to 10 upper-case letters or digits, starting with a letter",
            field="key",
        )
    name = text(cmd.name, "name", max_chars=120)
    description = body(cmd.description, "description")
    project_id = fresh_id(ctx, cmd.id, projects.id_exists, "project")
    if projects.key_exists(ctx.conn, key):
        raise AlreadyExists(f"project key {key} is taken (keys are never reused)", field="key")
    project = projects.insert(
        ctx.conn,
        project_id=project_id,
        key=key,
        name=name,
        description=description,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    ctx.log("project", project.id, project.id, "created")
    lanes = []
    for position, (lane_name, status_value) in enumerate(swim_lanes.DEFAULT_LANES):
        lane = swim_lanes.insert(
            ctx.conn,
            lane_id=str(uuid.uuid4()),
            project_id=project.id,
            name=lane_name,
            status_value=status_value,
            position=position,
            is_default=True,
            actor_id=ctx.user_id,
            now_ms=ctx.now_ms,
        )
        ctx.log("swim_lane", lane.id, project.id, "created")
        lanes.append(lane_to_proto(lane))
    wire = project_to_proto(project)
    return Change(
        result=msg.CreateProjectResult(project=wire, lanes=lanes),
        event=msg.ProjectCreated(project=wire, lanes=lanes),
        project_ids=[project.id],
        tenant_level=True,
    )


@commands.mutation("update_project")
def update_project(ctx: WriteContext, cmd: msg.UpdateProject) -> Change:
    """Renames a project or changes its description."""
    project = load_project(ctx, cmd.project_id)
    check_version(project, cmd.expected_version)
    updates: dict[str, object] = {}
    if cmd.HasField("name"):
        updates["name"] = text(cmd.name, "name", max_chars=120)
    if cmd.HasField("description"):
        updates["description"] = body(cmd.description, "description")
    if not updates:
        raise InvalidArgument("nothing to update: set name or description", field="name")
    before = project_to_proto(project)
    after_record = projects.update(
        ctx.conn, project.id, updates, actor_id=ctx.user_id, now_ms=ctx.now_ms
    )
    after = project_to_proto(after_record)
    changes = field_changes(before, after, ["name", "description"])
    if not changes:
        raise Unchanged(msg.UpdateProjectResult(project=before))
    log_changes(ctx, "project", project.id, project.id, changes)
    return Change(
        result=msg.UpdateProjectResult(project=after, changes=changes),
        event=msg.ProjectUpdated(project=after, changes=changes),
        project_ids=[project.id],
        tenant_level=True,
    )


@commands.mutation("delete_project", role=Role.ADMIN)
def delete_project(ctx: WriteContext, cmd: msg.DeleteProject) -> Change:
    """Soft-deletes a project and everything in it (admins only)."""
    project = load_project(ctx, cmd.project_id)
    check_version(project, cmd.expected_version)
    cascade = cascade_delete.soft_delete_project(
        ctx.conn, project.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    for entity_type, entity_ids in cascade.deleted.items():
        for entity_id in entity_ids:
            ctx.log(entity_type, entity_id, project.id, "deleted")
    return Change(
        result=msg.DeleteProjectResult(project_id=project.id),
        event=msg.ProjectDeleted(
            project_id=project.id,
            deleted_at_ms=ctx.now_ms,
            **{
                f"{entity_type}_ids": ids
                for entity_type, ids in cascade.deleted.items()
                if entity_type != "project"
            },
        ),
        # Projects linked by a deleted dependency hear of it too: their items lost an edge.
        project_ids=[project.id, *cascade.touched_project_ids],
        tenant_level=True,
    )


@commands.query("get_project")
def get_project(ctx: ReadContext, cmd: msg.GetProject) -> msg.GetProjectResult:
    """One project with its lanes in order."""
    project = load_project(ctx, cmd.project_id)
    lanes = swim_lanes.list_for_project(ctx.conn, project.id)
    return msg.GetProjectResult(
        project=project_to_proto(project), lanes=[lane_to_proto(lane) for lane in lanes]
    )


@commands.query("list_projects")
def list_projects(ctx: ReadContext, cmd: msg.ListProjects) -> msg.ListProjectsResult:
    """Live projects ordered by key, paged."""
    size = page_size(cmd.page_size)
    cursor = ctx.paging.cursor(cmd, key=str)
    found = projects.list_live(ctx.conn, after_key=cursor["key"] if cursor else "", limit=size + 1)
    page, token = ctx.paging.page(cmd, found, size, project_to_proto, lambda p: {"key": p.key})
    return msg.ListProjectsResult(projects=page, next_page_token=token)
