"""The consent ledger: latest wins, ties deny, default deny, one enforcement function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from c360.errors import ValidationError
from c360.privacy.consent import (
    ConsentRecord,
    ConsentRequiredError,
    build_ledgers,
    is_permitted,
    latest_consent,
    ledger_from_document,
    ledger_to_document,
    require_consent,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rec(granted: bool, days: float, source: str = "crm", purpose="marketing", channel="email", cid="C1"):
    return ConsentRecord(cid, purpose, channel, granted, T0 + timedelta(days=days), source)


def test_latest_record_wins_whatever_the_arrival_order():
    records = [rec(True, 1, "crm"), rec(False, 3, "web"), rec(True, 2, "marketing")]
    for order in (records, records[::-1], [records[1], records[0], records[2]]):
        ledger = build_ledgers(order)["C1"]
        state = ledger[("marketing", "email")]
        assert (state.granted, state.source, state.ts) == (False, "web", T0 + timedelta(days=3))


def test_a_withdrawal_wins_a_tie():
    for order in ([rec(True, 1, "a"), rec(False, 1, "b")], [rec(False, 1, "b"), rec(True, 1, "a")]):
        assert build_ledgers(order)["C1"][("marketing", "email")].granted is False


def test_naive_and_offset_timestamps_compare_in_utc():
    plus2 = timezone(timedelta(hours=2))
    early_local = ConsentRecord(
        "C1", "marketing", "sms", True, datetime(2026, 1, 1, 11, 0, tzinfo=plus2), "a"
    )
    later_naive = ConsentRecord(
        "C1", "marketing", "sms", False, datetime(2026, 1, 1, 10, 0), "b"
    )  # 10:00 UTC
    ledger = build_ledgers([later_naive, early_local])["C1"]  # 11:00+02:00 is 09:00 UTC
    assert ledger[("marketing", "sms")].granted is False


def test_purposes_and_channels_are_independent():
    ledger = build_ledgers(
        [rec(True, 1), rec(False, 2, channel="sms"), rec(True, 1, purpose="analytics", channel="web")]
    )
    doc = ledger_to_document(ledger["C1"])
    assert is_permitted(doc, "marketing", "email")
    assert not is_permitted(doc, "marketing", "sms")
    assert is_permitted(doc, "analytics", "web")
    assert not is_permitted(doc, "personalization", "web")  # never asked: deny


def test_default_deny_and_enforcement():
    for empty in (None, {}, {"marketing": {}}, {"marketing": {"email": {"granted": "yes"}}}):
        assert not is_permitted(empty, "marketing", "email")
        with pytest.raises(ConsentRequiredError) as err:
            require_consent(empty, "marketing", "email")
        assert err.value.status_code == 403
    granted = {"marketing": {"email": {"granted": True, "ts": T0.isoformat(), "source": "crm"}}}
    require_consent(granted, "marketing", "email")


def test_typos_fail_loudly():
    with pytest.raises(ValidationError):
        is_permitted({}, "marketting", "email")
    with pytest.raises(ValidationError):
        require_consent({}, "marketing", "fax")
    with pytest.raises(ValidationError):
        build_ledgers([rec(True, 1, channel="pigeon")])


def test_document_round_trip_keeps_source_and_time():
    ledger = build_ledgers([rec(True, 1, "crm"), rec(False, 2, "support", channel="push")])["C1"]
    doc = ledger_to_document(ledger)
    assert doc["marketing"]["push"] == {
        "granted": False,
        "ts": (T0 + timedelta(days=2)).isoformat(),
        "source": "support",
    }
    assert ledger_from_document(doc) == ledger


def test_batch_form_agrees_with_the_fold():
    records = [
        rec(True, 1, "crm"),
        rec(False, 3, "web"),
        rec(True, 3, "app"),  # tie with the withdrawal: the withdrawal stays in force
        rec(True, 2, "crm", channel="sms"),
        rec(True, 5, "crm", cid="C2"),
        rec(False, 4, "crm", cid="C2"),
    ]
    df = pd.DataFrame([r.__dict__ for r in records])
    out = latest_consent(df).set_index(["customer_id", "purpose", "channel"])
    ledgers = build_ledgers(records)
    assert len(out) == sum(len(v) for v in ledgers.values())
    for cid, ledger in ledgers.items():
        for (purpose, channel), state in ledger.items():
            row = out.loc[(cid, purpose, channel)]
            assert (bool(row["granted"]), row["source"], row["ts"].to_pydatetime()) == (
                state.granted,
                state.source,
                state.ts,
            )
    assert latest_consent(df.iloc[0:0]).empty
