"""The REST face's common ground: the OpenAPI document, and views as JSON."""

from __future__ import annotations

from hamcrest import assert_that, equal_to, has_entries, has_key

from pm.v1 import entities_pb2 as pb
from server.rest.jsonview import schemas_of, to_json
from tests.rest import openapi
from tests.server_fixture import RunningServer


def test_given_a_work_item_when_rendered_as_json_then_enums_are_words_and_int64s_numbers() -> None:
    item = pb.WorkItem(
        id="i1",
        type=pb.WORK_ITEM_TYPE_STORY,
        priority=pb.PRIORITY_HIGH,
        version=3,
        created_at_ms=1_700_000_000_000,
    )

    body = to_json(item)

    assert_that(
        body,
        has_entries(
            id="i1", type="story", priority="high", version=3, created_at_ms=1_700_000_000_000
        ),
    )
    assert_that(body, has_key("title"))  # every field present


def test_given_the_work_item_schema_when_derived_then_it_names_the_enum_words() -> None:
    schemas = schemas_of(pb.WorkItem.DESCRIPTOR)

    assert_that(
        schemas["WorkItem"]["properties"]["type"],
        equal_to({"type": "string", "enum": ["", "epic", "story", "task", "bug"]}),
    )


async def test_given_the_server_when_asked_for_openapi_then_it_serves_a_3_1_document(
    server: RunningServer,
) -> None:
    document = await openapi(server)

    assert_that(document["openapi"], equal_to("3.1.0"))
    assert_that(document["components"]["schemas"], has_key("Error"))
