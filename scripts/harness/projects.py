"""Harness subcommands for projects."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import projects_pb2 as msg
from scripts.harness.client import Client


async def create_project(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "create_project",
        msg.CreateProject(key=args.key, name=args.name, description=args.description),
    )


async def update_project(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.UpdateProject(project_id=args.project, expected_version=args.version)
    if args.name is not None:
        command.name = args.name
    if args.description is not None:
        command.description = args.description
    return await client.result("update_project", command)


async def delete_project(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_project", msg.DeleteProject(project_id=args.project, expected_version=args.version)
    )


async def get_project(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_project", msg.GetProject(project_id=args.project))


async def list_projects(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_projects", msg.ListProjects(page_size=args.page_size, page_token=args.page_token)
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-project", help="create a project with its default lanes")
    p.add_argument("--key", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.set_defaults(run=create_project)
    p = sub.add_parser("update-project", help="rename or redescribe a project")
    p.add_argument("--project", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.add_argument("--name")
    p.add_argument("--description")
    p.set_defaults(run=update_project)
    p = sub.add_parser("delete-project", help="admin only")
    p.add_argument("--project", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.set_defaults(run=delete_project)
    p = sub.add_parser("get-project", help="one project")
    p.add_argument("--project", required=True)
    p.set_defaults(run=get_project)
    p = sub.add_parser("list-projects", help="the tenant's projects")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_projects)
