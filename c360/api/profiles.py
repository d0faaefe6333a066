"""`GET /v1/profiles/{customer_id}` and `GET /v1/profiles?email=|phone=|device_id=|cookie_id=`.

They read the workspace's profile store (`stores.profile` in c360.yaml), which follows the aliases identity
merges leave behind: a merged-away id answers with the surviving profile, whose `customerId` tells the caller
the id it lives under now. An identifier several customers hold (a family's tablet, a couple's email) names
nobody: the lookup by identifier answers 409 `ambiguous_identifier` instead of one of their profiles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam

from c360.api.context import ApiContext
from c360.api.http import API_VERSION, MAX_ID_CHARS, ErrorBody, json_response
from c360.errors import NotFoundError, ValidationError

IDENTIFIER_PARAMS = {"email": "email", "phone": "phone", "device_id": "device", "cookie_id": "cookie"}
"""Query parameter of `GET /v1/profiles` -> identifier kind of the profile store's index."""
PROFILE_DOC = {200: {"content": {"application/json": {"schema": {"type": "object"}}}}}


def profile_routes(ctx: ApiContext) -> APIRouter:
    services = ctx.services
    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["profiles"])
    read_profiles = [Depends(ctx.require("profiles:read"))]

    @v1.get(
        "/profiles/{customer_id}",
        dependencies=read_profiles,
        responses={**PROFILE_DOC, 404: {"model": ErrorBody}},
        response_class=Response,
    )
    async def get_profile(customer_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]) -> Response:
        """One customer's unified profile; a merged-away id answers with the surviving profile. The body is
        the document as the store holds it (`ProfileStore.get_json_async`: on the loop for SQLite, through
        the asyncio clients of Redis and Cosmos DB)."""
        try:
            body = await services.profiles().get_json_async(customer_id)
            return Response(body, media_type="application/json")
        except NotFoundError:
            raise NotFoundError("no profile for this customer id") from None

    @v1.get(
        "/profiles",
        dependencies=read_profiles,
        responses={
            **PROFILE_DOC,
            404: {"model": ErrorBody, "description": "No customer holds the identifier (`not_found`)."},
            409: {
                "model": ErrorBody,
                "description": "Several customers hold the identifier (`ambiguous_identifier`): look the "
                "profile up by customer id.",
            },
        },
        response_class=Response,
    )
    def find_profile(
        email: Annotated[str | None, Query(max_length=320)] = None,
        phone: Annotated[str | None, Query(max_length=64)] = None,
        device_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        cookie_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    ) -> Response:
        """The profile holding one identifier: exactly one of email, phone (E.164), device_id, cookie_id.
        404 when no customer holds it; 409 `ambiguous_identifier` when several do: a shared device or email
        is nobody's in particular, and answering one holder would hand that person's profile to the others."""
        given = {
            param: value
            for param, value in {
                "email": email,
                "phone": phone,
                "device_id": device_id,
                "cookie_id": cookie_id,
            }.items()
            if value is not None
        }
        if len(given) != 1:
            raise ValidationError(f"give exactly one of {', '.join(IDENTIFIER_PARAMS)}")
        ((param, value),) = given.items()
        store = services.profiles()
        return json_response(store.get(store.lookup(IDENTIFIER_PARAMS[param], value)))

    return v1
