"""`POST /v1/events`: a batch of track / identify / page events in the Segment spec's shape (events:write).

The body is `{"batch": [event, ...]}`, at most 500 events. The answer lists what happened to each event:

    200  {"accepted": n, "duplicates": d, "errors": [{"index": i, "code": ..., "message": ...}, ...]}
         at least one event was accepted; the others are reported by their index in the batch
    409  the same body with `error.code` "duplicate": every event was a duplicate (a retried batch)
    422  the same body with `error.code` "invalid_events": no event was accepted
    400  `malformed_json`; 413 `batch_too_large`; 422 `invalid_request` (no `batch` list, or an empty one)

The codes of each event's error are c360.events.sink's. The sink is one per process (`Services.component`),
built on first use on the app's profile store and the workspace's Feast online store.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from c360.api.context import ApiContext
from c360.api.http import API_VERSION, ErrorBody, error_response, json_response
from c360.events.schema import MAX_BATCH
from c360.events.sink import BatchTooLargeError, EventSink, open_event_sink
from c360.workspace import Workspace

COMPONENT = "events.sink"
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "message_id"],
    "properties": {
        "type": {"enum": ["track", "identify", "page"]},
        "message_id": {"type": "string", "maxLength": 256},
        "anonymous_id": {"type": "string"},
        "user_id": {"type": "string"},
        "event": {"type": "string", "description": "track: the event name, e.g. Product Added"},
        "name": {"type": "string", "description": "page: the page name"},
        "properties": {"type": "object"},
        "traits": {"type": "object", "description": "identify: email, phone, ..."},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def event_routes(ctx: ApiContext) -> APIRouter:
    services = ctx.services
    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["events"])

    def build_sink(ws: Workspace) -> EventSink:
        return open_event_sink(ws, services.profiles())

    @v1.post(
        "/events",
        dependencies=[Depends(ctx.require("events:write"))],
        response_class=Response,
        responses={
            200: {"content": {"application/json": {"schema": RESULT_SCHEMA}}},
            400: {"model": ErrorBody},
            409: {"content": {"application/json": {"schema": RESULT_SCHEMA}}},
            413: {"model": ErrorBody},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["batch"],
                            "properties": {
                                "batch": {"type": "array", "maxItems": MAX_BATCH, "items": EVENT_SCHEMA}
                            },
                        }
                    }
                },
            }
        },
    )
    async def post_events(request: Request) -> Response:
        """Accept a batch of events: the valid ones are kept, the others reported by index."""
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, list) or not batch:
            return error_response(422, "invalid_request", 'the body must be {"batch": [event, ...]}')
        sink = services.component(COMPONENT, build_sink)
        try:
            result = await run_in_threadpool(sink.accept, batch, None, len(raw))
        except BatchTooLargeError as exc:
            return error_response(413, "batch_too_large", exc.message)
        doc = result.as_dict()
        if result.accepted:
            return json_response(doc)
        if result.duplicates == len(batch):
            error = {"code": "duplicate", "message": "every event of the batch was already accepted"}
            return json_response({"error": error, **doc}, status_code=409)
        error = {"code": "invalid_events", "message": "no event of the batch was accepted; see errors"}
        return json_response({"error": error, **doc}, status_code=422)

    return v1
