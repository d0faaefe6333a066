"""A customer's rights over HTTP: `PUT /v1/customers/{id}/consent`, `DELETE /v1/customers/{id}` (erasure as a
job) and `GET /v1/erasures/{request_id}` (its status).

A consent change is recorded at once in the lake's ledger, the profile document and the Feast online
`consent` view (`c360.profile.consent_updates.record_consent`), so the next request sees it. An erasure is
queued (`c360.privacy.requests`) and answered with 202 and the request's id; the serving process's worker
erases within seconds unless a pipeline run holds the workspace, in which case it waits for it.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures' aliases (`CustomerId`,
# `Eraser`, local to `customer_routes`) from the live objects.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from c360.api.context import ApiContext
from c360.api.http import API_VERSION, MAX_ID_CHARS, ErrorBody, json_response
from c360.api.keys import ApiKey
from c360.errors import NotFoundError
from c360.schemas import ConsentChannel, ConsentPurpose
from c360.workspace import Workspace

FEATURE_STORE = "feature_store"
ERASURE_WORKER = "erasure_worker"
MAX_CONSENT_CHANGES = 20


class ConsentStatement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: ConsentPurpose
    channel: ConsentChannel
    granted: bool


class ConsentUpdate(BaseModel):
    """Consent statements about one customer, recorded in order (a later one about the same purpose and
    channel wins)."""

    model_config = ConfigDict(extra="forbid")

    changes: list[ConsentStatement] = Field(min_length=1, max_length=MAX_CONSENT_CHANGES)
    source: str = Field(default="api", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    """Where the customer said it (a preference centre, a call centre), kept in the ledger."""


class ErasureAccepted(BaseModel):
    request_id: str
    status: str
    status_url: str


def feature_store_or_none(ws: Workspace) -> Any:
    """The workspace's Feast store, or None before `c360 features apply` made its registry (consent is then
    recorded in the lake and the profile store only, as `record_consent` does)."""
    from c360.features.store import open_feature_store

    feast = ws.settings.stores.feast
    if feast.registry == "file" and not ws.resolve_path(feast.registry_path).exists():
        return None
    return open_feature_store(ws)


def erasure_worker(ws: Workspace) -> Any:
    from c360.erasure_plan import erase_or_resume
    from c360.privacy.requests import ErasureWorker

    return ErasureWorker(ws, erase_or_resume)


def customer_routes(ctx: ApiContext) -> APIRouter:
    services = ctx.services
    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["customers"])
    CustomerId = Annotated[str, PathParam(max_length=MAX_ID_CHARS)]
    Eraser = Annotated[ApiKey, Depends(ctx.require("admin:erase"))]

    @v1.put(
        "/customers/{customer_id}/consent",
        dependencies=[Depends(ctx.require("consent:write"))],
        responses={404: {"model": ErrorBody}},
        response_class=Response,
    )
    def put_consent(customer_id: CustomerId, update: ConsentUpdate) -> Response:
        """Record consent statements; the answer is the customer's whole consent section after them, and
        the next request to any route sees it."""
        from c360.profile.consent_updates import record_consent

        store = services.profiles()
        cid = store.resolve(customer_id)
        store.get(cid)  # 404 before anything is written
        feature_store = services.component(FEATURE_STORE, feature_store_or_none)
        change = None
        for statement in update.changes:
            change = record_consent(
                services.ws, cid, statement.purpose, statement.channel, statement.granted,
                source=update.source, feature_store=feature_store, profile_store=store,
            )  # fmt: skip
        assert change is not None  # at least one statement (validated)
        return json_response({"customerId": change.customer_id, "consent": change.consent})

    @v1.delete(
        "/customers/{customer_id}",
        status_code=202,
        responses={202: {"model": ErasureAccepted}, 404: {"model": ErrorBody}},
        response_model=ErasureAccepted,
    )
    def delete_customer(customer_id: CustomerId, request: Request, key: Eraser) -> Response:
        """Erase a customer from every store, as a job: 202 with the request's id; poll its status."""
        from c360.privacy.requests import ErasureRequests

        store = services.profiles()
        cid = store.resolve(customer_id)
        try:
            store.get(cid)
        except NotFoundError:
            raise NotFoundError("no profile for this customer id") from None
        submitted = ErasureRequests(services.ws).submit(cid, key.key_id)
        services.component(ERASURE_WORKER, erasure_worker).wake()
        url = str(request.url_for("erasure_status", request_id=submitted.request_id).path)
        body = ErasureAccepted(request_id=submitted.request_id, status=submitted.status, status_url=url)
        return json_response(body.model_dump(), status_code=202)

    @v1.get(
        "/erasures/{request_id}",
        name="erasure_status",
        dependencies=[Depends(ctx.require("admin:erase"))],
        responses={404: {"model": ErrorBody}},
        response_class=Response,
    )
    def erasure_status(request_id: Annotated[str, PathParam(max_length=64)]) -> Response:
        """An erasure request: queued, running, done (with the erasure's id and audit record) or failed."""
        from c360.privacy.requests import ErasureRequests

        return json_response(ErasureRequests(services.ws).get(request_id).public())

    return v1
