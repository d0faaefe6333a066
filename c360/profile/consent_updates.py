"""Recording a consent change as the API will: lake ledger, profile store and Feast online store, at once.

The change is appended to `consent/updates/` in the lake (the next `profiles` run folds it into the ledger
with the source records, latest wins), written into the customer's profile document, and pushed to the
Feast online store's `consent` view, so a withdrawal is enforced within the call, not at the next batch.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from c360.io.outages import online_store_call
from c360.privacy.consent import (
    ConsentRecord,
    apply_record,
    check_purpose_channel,
    ledger_from_document,
    ledger_to_document,
)
from c360.profile.store import ProfileStore, open_profile_store
from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES
from c360.workspace import Workspace

UPDATES = ("consent", "updates")
PUSH_SOURCE = "consent_push"


@dataclass(frozen=True)
class ConsentChange:
    customer_id: str
    changed: bool
    pushed: bool
    consent: dict[str, Any]


def consent_feature_row(customer_id: str, consent: dict[str, Any], ts: datetime) -> pd.DataFrame:
    """One row of the `consent` feature view from a profile's consent section (no entry: 0, deny)."""
    row: dict[str, Any] = {"customer_id": customer_id, "event_timestamp": pd.Timestamp(ts)}
    for purpose in CONSENT_PURPOSES:
        for channel in CONSENT_CHANNELS:
            entry = (consent.get(purpose) or {}).get(channel) or {}
            row[f"{purpose}_{channel}"] = int(entry.get("granted") is True)
    return pd.DataFrame([row])


def record_consent(
    ws: Workspace,
    customer_id: str,
    purpose: str,
    channel: str,
    granted: bool,
    source: str,
    ts: datetime | None = None,
    feature_store: Any | None = None,
    profile_store: ProfileStore | None = None,
) -> ConsentChange:
    """Record one consent statement (NotFoundError: unknown customer; StoreUnavailableError: store down).
    `profile_store`: an open store to use (a server's), left open; else the workspace's, for the call."""
    check_purpose_channel(purpose, channel)
    ts = (ts or datetime.now(UTC)).astimezone(UTC)
    with nullcontext(profile_store) if profile_store is not None else open_profile_store(ws) as store:
        doc = store.get(customer_id)
        cid = doc["customerId"]
        ledger = ledger_from_document(doc.get("consent"))
        changed = apply_record(ledger, ConsentRecord(cid, purpose, channel, bool(granted), ts, source))
        doc["consent"] = ledger_to_document(ledger)
        marketing = doc["consent"].get("marketing", {})
        doc.setdefault("preferences", {})["marketingChannels"] = sorted(
            c for c, e in marketing.items() if e.get("granted")
        )
        lake = ws.lake
        update = pa.table(
            {
                "customer_id": [cid], "ts": pa.array([ts], pa.timestamp("us", tz="UTC")),
                "purpose": [purpose], "channel": [channel], "granted": [bool(granted)], "source": [source],
            }
        )  # fmt: skip
        name = f"{ts.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}.parquet"
        lake.write_table(update, lake.path(*UPDATES, name))
        store.upsert(doc)
    pushed = _push(ws, cid, doc["consent"], ts, feature_store)
    return ConsentChange(customer_id=cid, changed=changed, pushed=pushed, consent=doc["consent"])


def _push(ws: Workspace, cid: str, consent: dict[str, Any], ts: datetime, feature_store: Any | None) -> bool:
    """Push the customer's flags online; False when the feature store has not been applied yet."""
    from feast.data_source import PushMode

    from c360.features.store import open_feature_store

    feast = ws.settings.stores.feast
    if feature_store is None:
        if feast.registry == "file" and not ws.resolve_path(feast.registry_path).exists():
            return False
        feature_store = open_feature_store(ws)
    with online_store_call(ws.settings):
        feature_store.push(PUSH_SOURCE, consent_feature_row(cid, consent, ts), to=PushMode.ONLINE)
    return True
