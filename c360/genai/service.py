"""A `ContentWriter` for a workspace: `llm` settings from c360.yaml, the profile store, the lake's
`facts/products` table, the next-best-action catalogue (`training/configs/nba/catalog.yaml` unless given)
and the content cache in the workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from c360.genai.backends import backend_from_settings
from c360.genai.cache import ContentCache
from c360.genai.tasks import ContentRequest, Product
from c360.genai.writer import ContentWriter
from c360.nba.catalog import DEFAULT_CATALOG, NO_ACTION, load_catalog
from c360.privacy.consent import ConsentRequiredError
from c360.profile.store import ProfileStore, open_profile_store
from c360.workspace import Workspace


def lake_products(ws: Workspace) -> Callable[[str], Product | None]:
    """product_id -> Product from `facts/products`, read once (the table holds one row per product)."""
    from c360.facts.schemas import PRODUCTS
    from c360.facts.store import read_facts

    table = read_facts(
        ws.lake, PRODUCTS, ["product_id", "title", "description", "category", "price", "currency"]
    )
    products = {
        row["product_id"]: Product(
            product_id=row["product_id"],
            title=row["title"] or row["product_id"],
            description=row["description"] or "",
            category=row["category"] or "",
            price=row["price"],
            currency=row["currency"],
        )
        for row in table.to_pylist()
    }
    return products.get


def content_cache(ws: Workspace) -> ContentCache:
    llm = ws.settings.llm
    return ContentCache(ws.resolve_path(llm.cache_path), llm.cache_ttl_seconds)


def writer_for_workspace(
    ws: Workspace, profiles: ProfileStore | None = None, catalog: str | Path = DEFAULT_CATALOG
) -> ContentWriter:
    """The workspace's writer; the profile store is opened here unless one is given (the caller closes a
    given one, the writer's `close` does not)."""
    store = profiles if profiles is not None else open_profile_store(ws)
    llm = ws.settings.llm
    return ContentWriter(
        llm,
        load_catalog(catalog),
        store.get,
        lake_products(ws),
        backend=backend_from_settings(llm),
        cache=content_cache(ws) if llm.cache_ttl_seconds > 0 else None,
    )


def offer_copy_for_decision(
    writer: ContentWriter, customer_id: str, action_id: str, decided_at: datetime | None = None
) -> dict[str, Any] | None:
    """The offer copy of a decision, for a response that includes content when asked (`/v1/personalize`):
    None for `no_action` or when the customer's consent does not allow the copy; the decision itself
    stands either way."""
    if action_id == NO_ACTION:
        return None
    try:
        content = writer.write(
            ContentRequest("offer", customer_id, action_id=action_id, decided_at=decided_at)
        )
    except ConsentRequiredError:
        return None
    return content.as_dict()
