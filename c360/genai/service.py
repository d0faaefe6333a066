"""A `ContentWriter` for a workspace: `llm` settings from c360.yaml, the profile store, the lake's
`facts/products` table, the next-best-action catalogue (`training/configs/nba/catalog.yaml` unless given),
the content cache and the ledger (the daily budget and the pacing every process of the workspace shares)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from c360.genai.backends import backend_from_settings
from c360.genai.cache import ContentCache
from c360.genai.ledger import SharedBudget, SharedPacer
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


def lake_open_tickets(ws: Workspace, limit: int = 5) -> Callable[[str], tuple[str, ...]]:
    """customer_id -> the texts of their open support tickets, newest first, read from the customer's one
    partition of `facts/interactions` at each call (nothing is copied or kept)."""
    import pyarrow.dataset as ds

    from c360.facts.schemas import INTERACTIONS, SCHEMAS
    from c360.facts.store import partition_files
    from c360.profile.staging import partition_of

    partitions = ws.settings.facts.partitions

    def open_tickets(customer_id: str) -> tuple[str, ...]:
        files = partition_files(ws.lake, INTERACTIONS, int(partition_of([customer_id], partitions)[0]))
        if not files:
            return ()
        wanted = (
            (ds.field("customer_id") == customer_id)
            & (ds.field("type") == "support_ticket")
            & (ds.field("status") == "open")
        )
        dataset = ds.dataset(
            files, schema=SCHEMAS[INTERACTIONS], format="parquet", filesystem=ws.lake.arrow_fs
        )
        rows = dataset.to_table(columns=["ts", "text"], filter=wanted).to_pylist()
        rows.sort(key=lambda r: r["ts"].timestamp() if r["ts"] is not None else 0.0, reverse=True)
        return tuple(r["text"] for r in rows if r["text"])[:limit]

    return open_tickets


def content_cache(ws: Workspace) -> ContentCache:
    llm = ws.settings.llm
    return ContentCache(ws.resolve_path(llm.cache_path), llm.cache_ttl_seconds)


def shared_budget(ws: Workspace) -> SharedBudget:
    llm = ws.settings.llm
    return SharedBudget(
        ws.resolve_path(llm.ledger_path),
        llm.daily_token_budget,
        llm.daily_cost_budget,
        llm.price_per_1k_input_tokens,
        llm.price_per_1k_output_tokens,
    )


def shared_pacer(ws: Workspace) -> SharedPacer:
    """The workspace's pacer for its configured backend (the row is named after provider, endpoint and
    model: a changed backend starts at its full rate)."""
    llm = ws.settings.llm
    name = f"{llm.provider}|{llm.base_url or ''}|{llm.deployment or llm.model}"
    rate = llm.requests_per_second
    return SharedPacer(ws.resolve_path(llm.ledger_path), rate, burst=max(1.0, rate / 10), name=name)


def writer_for_workspace(
    ws: Workspace, profiles: ProfileStore | None = None, catalog: str | Path = DEFAULT_CATALOG
) -> ContentWriter:
    """The workspace's writer; the profile store is opened here unless one is given (the caller closes a
    given one, the writer's `close` does not)."""
    store = profiles if profiles is not None else open_profile_store(ws)
    llm = ws.settings.llm
    backend = backend_from_settings(llm)
    return ContentWriter(
        llm,
        load_catalog(catalog),
        store.get,
        lake_products(ws),
        backend=backend,
        cache=content_cache(ws) if llm.cache_ttl_seconds > 0 else None,
        budget=shared_budget(ws) if backend is not None else None,
        open_tickets=lake_open_tickets(ws),
        pacer=shared_pacer(ws) if backend is not None else None,
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
