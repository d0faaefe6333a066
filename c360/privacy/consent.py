"""The consent ledger and the one check every channel, model and LLM call goes through.

A ledger holds, per customer, one entry per (purpose, channel) pair: granted or withdrawn, when, and which
source said so. Records are folded in with "latest wins by timestamp"; on an exact tie a withdrawal beats a
grant, so conflicting sources at the same instant never switch something on.

The profile document carries the ledger of its customer as `consent` (see `ledger_to_document`):

    {"marketing": {"email": {"granted": true, "ts": "2026-09-01T10:00:00+00:00", "source": "crm"}}, ...}

`is_permitted` / `require_consent` read exactly that shape. No entry means no consent: the default is deny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from c360.errors import C360Error, ValidationError
from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES

LEDGER_COLUMNS = ["customer_id", "purpose", "channel", "granted", "ts", "source"]


class ConsentRequiredError(C360Error):
    """An action needs a consent the customer has not given (or has withdrawn)."""

    status_code = 403


@dataclass(frozen=True)
class ConsentRecord:
    """One statement about consent, from a source system or the API."""

    customer_id: str
    purpose: str
    channel: str
    granted: bool
    ts: datetime
    source: str


@dataclass(frozen=True)
class ConsentState:
    granted: bool
    ts: datetime
    source: str


Ledger = dict[tuple[str, str], ConsentState]
"""(purpose, channel) -> the state in force, for one customer."""


def check_purpose_channel(purpose: str, channel: str) -> None:
    """A misspelt purpose or channel is a bug in the caller, not a silent deny."""
    if purpose not in CONSENT_PURPOSES:
        raise ValidationError(f"unknown consent purpose {purpose!r}; known: {', '.join(CONSENT_PURPOSES)}")
    if channel not in CONSENT_CHANNELS:
        raise ValidationError(f"unknown consent channel {channel!r}; known: {', '.join(CONSENT_CHANNELS)}")


def _utc(ts: datetime | str | pd.Timestamp) -> datetime:
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if isinstance(ts, pd.Timestamp):
        ts = ts.to_pydatetime()
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _wins(new: ConsentState, old: ConsentState | None) -> bool:
    """Latest timestamp wins; on a tie a withdrawal wins, then the source name decides (deterministic)."""
    if old is None:
        return True
    if new.ts != old.ts:
        return new.ts > old.ts
    if new.granted != old.granted:
        return not new.granted
    return new.source < old.source


def apply_record(ledger: Ledger, record: ConsentRecord) -> bool:
    """Fold one record into a customer's ledger in place; True when it changed the state in force."""
    check_purpose_channel(record.purpose, record.channel)
    state = ConsentState(granted=bool(record.granted), ts=_utc(record.ts), source=record.source)
    key = (record.purpose, record.channel)
    if _wins(state, ledger.get(key)):
        changed = ledger.get(key) is None or ledger[key].granted != state.granted
        ledger[key] = state
        return changed
    return False


def build_ledgers(records: Iterable[ConsentRecord]) -> dict[str, Ledger]:
    """customer_id -> ledger, from records in any order."""
    ledgers: dict[str, Ledger] = {}
    for record in records:
        apply_record(ledgers.setdefault(record.customer_id, {}), record)
    return ledgers


def latest_consent(records: pd.DataFrame) -> pd.DataFrame:
    """The batch form: one row per (customer_id, purpose, channel), the record in force, same rules as above.

    Input columns: customer_id, purpose, channel, granted, ts, source (standardized consent records keyed by
    customer). Rows with an unknown purpose or channel raise; ingest quarantines those before they get here.
    """
    missing = [c for c in LEDGER_COLUMNS if c not in records.columns]
    if missing:
        raise ValidationError(f"consent records lack columns: {', '.join(missing)}")
    if records.empty:
        return records[LEDGER_COLUMNS].reset_index(drop=True)
    bad_purpose = set(records["purpose"].unique()) - set(CONSENT_PURPOSES)
    bad_channel = set(records["channel"].unique()) - set(CONSENT_CHANNELS)
    if bad_purpose or bad_channel:
        raise ValidationError(
            f"unknown consent purposes {sorted(bad_purpose)} / channels {sorted(bad_channel)}"
        )
    df = records[LEDGER_COLUMNS].copy()
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["granted"] = df["granted"].astype(bool)
    # Sort so the winner comes first: latest ts, then withdrawal before grant, then source name.
    df = df.sort_values(
        ["customer_id", "purpose", "channel", "ts", "granted", "source"],
        ascending=[True, True, True, False, True, True],
        kind="mergesort",
    )
    return df.drop_duplicates(["customer_id", "purpose", "channel"], keep="first").reset_index(drop=True)


def ledger_to_document(ledger: Ledger) -> dict[str, dict[str, dict[str, Any]]]:
    """The `consent` section of a profile document."""
    doc: dict[str, dict[str, dict[str, Any]]] = {}
    for (purpose, channel), state in sorted(ledger.items()):
        doc.setdefault(purpose, {})[channel] = {
            "granted": state.granted,
            "ts": state.ts.isoformat(),
            "source": state.source,
        }
    return doc


def ledger_from_document(consents: Mapping[str, Any] | None) -> Ledger:
    """The ledger a profile's `consent` section describes (entries that do not parse are skipped: deny)."""
    ledger: Ledger = {}
    for purpose, channels in (consents or {}).items():
        if purpose not in CONSENT_PURPOSES or not isinstance(channels, Mapping):
            continue
        for channel, entry in channels.items():
            if channel not in CONSENT_CHANNELS or not isinstance(entry, Mapping):
                continue
            granted = entry.get("granted")
            if not isinstance(granted, bool):
                continue
            try:
                ts = _utc(entry["ts"])
            except (KeyError, TypeError, ValueError):
                continue
            ledger[(purpose, channel)] = ConsentState(
                granted=granted, ts=ts, source=str(entry.get("source", ""))
            )
    return ledger


def is_permitted(consents: Mapping[str, Any] | None, purpose: str, channel: str) -> bool:
    """Whether the customer consented to `purpose` on `channel`. No record, or an unreadable one: False."""
    check_purpose_channel(purpose, channel)
    if not consents:
        return False
    entry = (consents.get(purpose) or {}).get(channel) if isinstance(consents.get(purpose), Mapping) else None
    return isinstance(entry, Mapping) and entry.get("granted") is True


def require_consent(consents: Mapping[str, Any] | None, purpose: str, channel: str) -> None:
    """Raise ConsentRequiredError unless `is_permitted`; the message names the purpose and channel only."""
    if not is_permitted(consents, purpose, channel):
        raise ConsentRequiredError(f"no {purpose} consent on {channel} for this customer")
