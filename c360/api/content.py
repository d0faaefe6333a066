"""`POST /v1/content/{task}`: generated content for one customer (c360.genai), and the chat reply as
server-sent events when the client accepts `text/event-stream` (or sends `"stream": true`).

Scope `decide`: content is written for a decision the caller already has (the chosen action). A consent
the task needs and the customer has not given answers 403; no personalization consent answers
non-personalized content (`"personalized": false`). The stream's events are `delta` (text as it arrives),
then `done` (the checked reply with its metadata) or `replace` (a template reply that supersedes every
delta before it: the model's text failed a check or the stream stalled).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from c360.api.context import ApiContext
from c360.api.http import API_VERSION, MAX_ID_CHARS, ErrorBody, json_response
from c360.genai.tasks import ContentRequest
from c360.genai.writer import ContentWriter
from c360.workspace import Workspace

WRITER = "content_writer"


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["customer", "agent"]
    text: str = Field(max_length=2000)


class ContentBody(BaseModel):
    """What to write about; which fields a task needs is checked by the writer (422 when missing)."""

    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    product_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    action_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    """The action the next-best-action engine chose (email and offer tasks)."""
    decided_at: datetime | None = None
    """When it was chosen: the offer expires `attribution_days` later (default now)."""
    message: str | None = Field(default=None, max_length=2000)
    history: list[Turn] = Field(default_factory=list, max_length=20)
    tickets: list[str] = Field(default_factory=list, max_length=10)
    tone: str | None = Field(default=None, max_length=40)
    stream: bool = False


def content_writer(ctx: ApiContext) -> ContentWriter:
    """The process's writer over the API's profile store."""
    services = ctx.services

    def build(ws: Workspace) -> ContentWriter:
        from c360.genai.service import writer_for_workspace

        return writer_for_workspace(ws, profiles=services.profiles())

    return services.component(WRITER, build)


def _sse(events: Iterator) -> Iterator[bytes]:
    for event in events:
        data = {"text": event.text}
        if event.content is not None:
            data = event.content.as_dict()
        yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def content_routes(ctx: ApiContext) -> APIRouter:
    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["content"])

    @v1.post(
        "/content/{task}",
        dependencies=[Depends(ctx.require("decide"))],
        responses={
            200: {"content": {"application/json": {}, "text/event-stream": {}}},
            400: {"model": ErrorBody},
            403: {"model": ErrorBody},
            404: {"model": ErrorBody},
        },
        response_class=Response,
    )
    def write_content(
        task: Annotated[Literal["product_description", "email", "chat", "offer"], PathParam()],
        body: ContentBody,
        request: Request,
    ) -> Response:
        """Content for one customer: product_description, email (subject, preheader, text, html), chat, or
        offer copy, grounded in the profile and the chosen action's offer."""
        writer = content_writer(ctx)
        req = ContentRequest(
            task=task,
            customer_id=body.customer_id,
            product_id=body.product_id,
            action_id=body.action_id,
            message=body.message,
            history=tuple((t.role, t.text) for t in body.history),
            tickets=tuple(body.tickets),
            tone=body.tone,
            decided_at=body.decided_at,
        )
        wants_stream = body.stream or "text/event-stream" in request.headers.get("accept", "")
        if task == "chat" and wants_stream:
            events = writer.stream_chat(req)
            first = next(events)  # consent and lookups fail here, before the 200 is sent

            def chained() -> Iterator:
                yield first
                yield from events

            return StreamingResponse(
                _sse(chained()), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )
        return json_response(writer.write(req).as_dict())

    return v1
