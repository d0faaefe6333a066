"""Personalization routes: `POST /v1/personalize`, `GET /v1/customers/{customer_id}/recommendations`,
`GET /v1/products/{product_id}/similar` and `POST /v1/decisions/{decision_id}/reward`.

Every route needs the `decide` scope: it is what a storefront or a campaign tool holds to personalize a
channel, and it reads no more of a profile than the models need. `profiles:read` hands out whole profiles
(identities, demographics), which such a caller should not need.

The models are reached through `ModelClients` (`c360.inference.clients`): `create_api(..., models=...)` puts
Serve's handles in place; without them, `LocalModels` loads the workspace's production versions in this
process on first use (the first requests answer with flagged fallbacks while they load). A model that is not
trained, late or down answers its documented fallback, flagged in `fallbacks` (`c360.inference`), never an
error: only a refusal about the request itself (an unknown product or decision, a reward given twice) is a
4xx.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from c360.api.context import ApiContext
from c360.api.http import API_VERSION, MAX_ID_CHARS, ErrorBody, error_response, json_response
from c360.inference.clients import LocalModels, ModelClients
from c360.inference.parts import MODEL_ERROR, RECS, TIMEOUT, Part
from c360.inference.personalizer import Budget, Personalizer
from c360.inference.signals import SignalReader
from c360.nba.decisions import DuplicateRewardError
from c360.schemas import CONSENT_CHANNELS

MODELS = "models"
"""The `Services` component holding the process's `ModelClients`."""
PERSONALIZER = "personalizer"
MAX_ITEMS = 50
ANSWER_DOC = {200: {"content": {"application/json": {"schema": {"type": "object"}}}}}
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]

log = logging.getLogger("c360.api")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonalizeContext(_Strict):
    """Where the customer is now. Only `device` and `channel` reach the decision log (as tokens); the page
    and cart are used for this answer only."""

    page: str | None = Field(default=None, max_length=2048)
    channel: Literal[CONSENT_CHANNELS] | None = None  # type: ignore[valid-type]
    device: Literal["mobile", "desktop"] | None = None
    cart: list[Id] = Field(default_factory=list, max_length=200)
    """Product ids in the cart: never recommended back."""


class PersonalizeRequest(_Strict):
    customer_id: Id | None = None
    anonymous_id: Id | None = None
    context: PersonalizeContext = Field(default_factory=PersonalizeContext)
    n: int = Field(default=10, ge=1, le=MAX_ITEMS)
    category: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    content: bool = False
    """Include the offer copy of the chosen action (`c360.genai`, consent-gated) under `content.offer`."""

    @model_validator(mode="after")
    def _one_id(self) -> PersonalizeRequest:
        if (self.customer_id is None) == (self.anonymous_id is None):
            raise ValueError("give exactly one of customer_id and anonymous_id")
        return self


class RewardRequest(_Strict):
    click: bool = False
    conversion: bool = False
    revenue: float = Field(default=0.0, ge=0.0, le=1e9)


EVENT_STATE = "event_state_reader"


def _event_state(ws: Any) -> Any:
    """The events' shared state (stitches), read here: the store every replica and the event sink share."""
    from c360.events.state import open_event_state

    return open_event_state(ws, ttl_seconds=STITCH_READER_TTL_S)


STITCH_READER_TTL_S = 86_400.0
"""The state's claim TTL, unused by a reader (it only looks stitches up)."""


def personalizer_for(ctx: ApiContext) -> Personalizer:
    """The process's Personalizer over its `ModelClients` (Serve's, or `LocalModels`)."""
    services = ctx.services

    def build(ws: Any) -> Personalizer:
        models: ModelClients = services.component(MODELS, LocalModels.for_workspace)
        signals = SignalReader(ws)

        def observe(part: str, answer: Part) -> None:
            ctx.metrics.part(part, answer.fallback, answer.version)

        state = services.component(EVENT_STATE, _event_state)

        def stitched(anonymous_id: str) -> str | None:
            return state.stitched([anonymous_id]).get(anonymous_id)

        return Personalizer(
            models,
            services.profiles,
            signals.read,
            Budget.of(ws.settings.serving),
            observe=observe,
            stitched=stitched,
        )

    return services.component(PERSONALIZER, build)


async def _add_offer_copy(ctx: ApiContext, answer: dict[str, Any]) -> None:
    """`answer["content"] = {"offer": ...}`: the copy of the offer the bandit chose (None for no action, or
    without the consent the copy needs). Written off the event loop, within the LLM's own timeout; a writer
    that fails or is late leaves None, flagged in `fallbacks` like any part."""
    from c360.api.content import content_writer
    from c360.genai.service import offer_copy_for_decision

    action = answer.get("nextBestAction") or {}
    answer["content"] = {"offer": None}
    if not answer.get("customerId") or not action.get("decisionId"):
        return
    timeout = ctx.ws.settings.llm.timeout_seconds
    try:
        writer = content_writer(ctx)
        write = asyncio.to_thread(offer_copy_for_decision, writer, answer["customerId"], action["action"])
        answer["content"]["offer"] = await asyncio.wait_for(write, timeout)
    except TimeoutError:
        answer["fallbacks"].append({"part": "content", "reason": TIMEOUT})
    except Exception as exc:  # noqa: BLE001 - content is an extra: its failure never fails the decision
        log.warning("offer copy failed: %s", type(exc).__name__)
        answer["fallbacks"].append({"part": "content", "reason": MODEL_ERROR})


def personalize_routes(ctx: ApiContext) -> APIRouter:
    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["personalization"])
    decide = [Depends(ctx.require("decide"))]
    refused = {404: {"model": ErrorBody}}

    @v1.post("/personalize", dependencies=decide, responses=ANSWER_DOC, response_class=Response)
    async def personalize(body: PersonalizeRequest) -> Response:
        """Recommendations, the next-best action (with the decision id a reward names), scores, segment
        and real-time signals for a customer_id or an anonymous_id, and which parts fell back and why."""
        context = body.context.model_dump(exclude_none=True)
        answer = await personalizer_for(ctx).personalize(
            body.customer_id, body.anonymous_id, context, body.n, body.category
        )
        if body.content:
            await _add_offer_copy(ctx, answer)
        return json_response(answer)

    @v1.get(
        "/customers/{customer_id}/recommendations",
        dependencies=decide,
        responses=ANSWER_DOC,
        response_class=Response,
    )
    async def recommendations(
        customer_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)],
        n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
        category: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    ) -> Response:
        """The customer's top n (of one category, if given); the popular list, flagged, without a profile
        or personalization consent, or when the recommender is late or not trained."""
        personalizer = personalizer_for(ctx)
        found, doc, profile = await personalizer.profile_of(customer_id, None)
        fallback = await personalizer.popular(n, category)
        consent = doc.get("consent") if doc is not None else None
        recs = await personalizer.part(
            RECS,
            personalizer.models.recommend(found, n, category, (), consent),
            personalizer.budget.part,
            fallback,
        )
        fallbacks = [{"part": p, "reason": a.fallback} for p, a in (("profile", profile), (RECS, recs))]
        return json_response(
            {
                "customerId": found or customer_id,
                "recommendations": recs.value,
                "fallbacks": [f for f in fallbacks if f["reason"] is not None],
                "modelVersion": recs.version,
            }
        )

    @v1.get(
        "/products/{product_id}/similar",
        dependencies=decide,
        responses={**ANSWER_DOC, **refused},
        response_class=Response,
    )
    async def similar(
        product_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)],
        n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
    ) -> Response:
        """Products bought together with this one (co-purchase cosine), most similar first; 404 for a
        product the model does not know, an empty list flagged `not_trained` before training."""
        answer = Part.from_dict(await personalizer_for(ctx).models.similar(product_id, n))
        fallbacks = [] if answer.fallback is None else [{"part": "similar", "reason": answer.fallback}]
        return json_response(
            {
                "productId": product_id,
                "similar": answer.value,
                "fallbacks": fallbacks,
                "modelVersion": answer.version,
            }
        )

    @v1.post(
        "/decisions/{decision_id}/reward",
        dependencies=decide,
        responses={**ANSWER_DOC, **refused, 409: {"model": ErrorBody}},
        response_class=Response,
    )
    async def reward(
        decision_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)], body: RewardRequest
    ) -> Response:
        """The outcome of a served decision (click, conversion, revenue): logged, then learned. 404 for an
        unknown (or expired, or erased) decision, 409 when it was rewarded already, 422 past the
        attribution window."""
        try:
            done = await personalizer_for(ctx).models.reward(
                decision_id, body.click, body.conversion, body.revenue
            )
        except DuplicateRewardError:
            return error_response(409, "conflict", "this decision was already rewarded")
        return json_response(done)

    return v1
