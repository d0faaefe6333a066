"""Pure pieces of `profiles`: global RFM edges, input digests, partitions, documents, feature tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from c360.profile.aggregates import input_hash, rfm_inputs, rfm_scores_global, rfm_thresholds
from c360.profile.consent_updates import consent_feature_row
from c360.profile.document import age_at, consent_documents, render_documents
from c360.profile.feature_tables import CONSENT_FEATURES, FEATURE_COLUMNS, feature_frames
from c360.profile.staging import partition_of

pytestmark = pytest.mark.unit
AS_OF = pd.Timestamp("2026-01-01", tz="UTC")


def summary(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "last_purchase": [AS_OF - pd.Timedelta(days=i) for i in range(n)],
            "total_purchases": list(range(1, n + 1)),
            "total_spend": [10.0 * (i + 1) for i in range(n)],
        }
    )


def test_global_edges_score_the_same_customer_the_same_in_any_partition():
    s = summary(100)
    edges = rfm_thresholds(rfm_inputs(s, AS_OF))
    whole = rfm_scores_global(rfm_inputs(s, AS_OF), edges).set_index("customer_id")
    half = rfm_scores_global(rfm_inputs(s.iloc[:30], AS_OF), edges).set_index("customer_id")
    assert (whole.loc[half.index, ["r", "f", "m"]] == half[["r", "f", "m"]]).all().all()
    assert sorted(whole["f"].value_counts().to_dict().items()) == [(k, 20) for k in range(1, 6)]
    # most recent, most frequent, most valuable is 555 here only if recency and value go together
    assert whole.loc["c0", "r"] == 5 and whole.loc["c99", "f"] == 5 and whole.loc["c99", "m"] == 5


def test_non_buyers_score_one_everywhere():
    s = summary(10)
    s.loc[0, ["total_purchases", "total_spend"]] = [0, 0.0]
    s.loc[0, "last_purchase"] = pd.NaT
    scores = rfm_scores_global(rfm_inputs(s, AS_OF), rfm_thresholds(rfm_inputs(s, AS_OF)))
    assert scores.iloc[0]["rfm_score"] == "111"


def test_input_hash_is_order_free_and_sees_every_change():
    df = pd.DataFrame({"customer_id": ["a", "a", "b"], "x": [1, 2, 3], "y": ["p", "q", None]})
    h = input_hash(df, ["x", "y"], 1)
    assert input_hash(df.iloc[::-1], ["x", "y"], 1).equals(h)
    changed = input_hash(df.assign(x=[1, 5, 3]), ["x", "y"], 1)
    assert changed["a"] != h["a"] and changed["b"] == h["b"]
    assert input_hash(df, ["x", "y"], 2)["b"] != h["b"]  # salts keep tables apart


def test_partition_is_stable_and_spread():
    ids = np.array([f"cus_{i:06d}" for i in range(4000)], dtype=object)
    parts = partition_of(ids, 8)
    assert (parts == partition_of(ids, 8)).all()
    assert parts.min() == 0 and parts.max() == 7
    assert np.bincount(parts).min() > 350


def test_age_from_birth_date_counts_birthdays():
    births = pd.Series(["1990-01-01", "1990-01-02", None, "2030-01-01"])
    assert age_at(births, pd.Timestamp("2026-01-01", tz="UTC")).tolist() == [36, 35, pd.NA, pd.NA]


def test_consent_document_latest_wins_with_source():
    recs = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "purpose": ["marketing"] * 3,
            "channel": ["email", "email", "sms"],
            "granted": [True, False, True],
            "ts": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01"], utc=True),
            "source": ["crm", "api", "crm"],
        }
    )
    doc = json.loads(consent_documents(recs)["a"])
    assert doc["marketing"]["email"] == {"granted": False, "ts": "2025-02-01T00:00:00+00:00", "source": "api"}
    assert doc["marketing"]["sms"]["granted"] is True


def test_feature_frames_carry_exactly_the_declared_columns():
    row = {
        "customer_id": "a", "as_of": AS_OF, "first_observed": AS_OF - pd.Timedelta(days=10),
        "first_seen": AS_OF - pd.Timedelta(days=40),
        "last_purchase": AS_OF - pd.Timedelta(days=3), "last_interaction": pd.NaT,
        "favorite_categories": ["toys"],
        "r": 5, "f": 4, "m": 3, "rfm_score": "543", "age": 40, "gender": "female", "country": "US",
        "total_purchases": 2, "total_spend": 20.0, "avg_order_value": 10.0, "orders_last_365d": 2,
        "returns": 0,
        "return_amount": 0.0, "engagement_score": 50, "interactions_last_90d": 0, "web_visits": 0,
        "app_sessions": 0, "email_opens": 0, "email_clicks": 0, "campaign_responses": 0,
        "preferred_channel": None, "support_tickets": 1, "open_tickets": 1, "social_mentions": 0,
        "avg_sentiment": np.nan, "consent": json.dumps({"marketing": {"email": {"granted": True}}}),
    }  # fmt: skip
    frames = feature_frames(pd.DataFrame([row]))
    assert set(frames) == set(FEATURE_COLUMNS)
    for view, frame in frames.items():
        assert list(frame.columns) == ["customer_id", "event_timestamp", *FEATURE_COLUMNS[view]]
    t = frames["transactions"].iloc[0]
    # times are stored as timestamps; the day counts are computed at read time (feature_repo/on_demand.py)
    assert t["last_purchase_at"] == AS_OF - pd.Timedelta(days=3) and t["favorite_category"] == "toys"
    assert frames["profile"].iloc[0]["first_seen_at"] == AS_OF - pd.Timedelta(days=40)  # not first_observed
    assert pd.isna(frames["engagement_rfm"].iloc[0]["last_interaction_at"])
    c = frames["consent"].iloc[0]
    assert c["marketing_email"] == 1 and c[list(CONSENT_FEATURES)].sum() == 1


def finished_row(**overrides: object) -> dict:
    row = {
        "customer_id": "a", "emails": np.array(["ada@example.com"], dtype=object),
        "phones": np.array([], dtype=object), "device_ids": np.array([], dtype=object),
        "cookie_ids": np.array(["ck1", "ck2"], dtype=object), "first_name": "Ada", "last_name": None,
        "age": 40.0, "gender": "female", "city": "Leeds", "state": None, "country": "GB",
        "total_purchases": 2, "total_spend": 20.5, "avg_order_value": 10.25,
        "last_purchase": AS_OF - pd.Timedelta(days=3),
        "favorite_categories": np.array(["toys"], dtype=object),
        "returns": 0, "return_amount": 0.0, "rfm_score": "543", "r": 5, "f": 4, "m": 3,
        "engagement_score": 50, "preferred_channel": "email", "last_interaction": pd.NaT, "as_of": AS_OF,
        "support_tickets": 1, "open_tickets": 1, "avg_sentiment": -0.25, "web_visits": 3, "app_sessions": 0,
        "email_opens": 0, "email_clicks": 0, "campaign_responses": 0, "social_mentions": 0, "currency": "EUR",
        "consent": json.dumps({
            "marketing": {"sms": {"granted": True, "ts": "2025-01-01T00:00:00+00:00", "source": "crm"},
                          "email": {"granted": False, "ts": "2025-01-01T00:00:00+00:00", "source": "api"},
                          "ads": {"granted": True, "ts": "2025-01-01T00:00:00+00:00", "source": "crm"}},
        }),
        "lineage": json.dumps({"first_name": "crm:1"}),
    }  # fmt: skip
    return {**row, **overrides}


def test_rendered_documents_follow_the_seed_schema():
    frame = pd.DataFrame(
        [finished_row(), finished_row(customer_id="b", age=np.nan, consent="{}", avg_sentiment=np.nan)]
    )
    first, second = (json.loads(d) for d in render_documents(frame))
    assert first["customerId"] == "a" and second["customerId"] == "b"
    assert first["identities"] == {
        "email": ["ada@example.com"], "phone": [], "deviceIds": [], "cookieIds": ["ck1", "ck2"]
    }  # fmt: skip
    demo = first["demographics"]
    assert demo["age"] == 40 and isinstance(demo["age"], int) and second["demographics"]["age"] is None
    assert demo["lastName"] is None and demo["location"] == {"city": "Leeds", "state": None, "country": "GB"}
    assert first["transactions"] == {
        "currency": "EUR", "totalPurchases": 2, "totalSpend": 20.5, "avgOrderValue": 10.25,
        "lastPurchase": "2025-12-29T00:00:00+00:00", "favoriteCategories": ["toys"], "returns": 0,
        "returnAmount": 0.0,
    }  # fmt: skip
    eng = first["engagement"]
    assert (eng["rfmScore"], eng["recency"], eng["frequency"], eng["monetary"]) == ("543", 5, 4, 3)
    assert eng["lastInteraction"] is None and eng["asOf"] == "2026-01-01T00:00:00+00:00"
    assert first["interactions"]["sentiment"] == -0.25 and first["interactions"]["webVisits"] == 3
    assert second["interactions"]["sentiment"] is None  # no scored text: null, not 0
    # granted marketing channels only, sorted; no marketing consent at all is an empty list, not null
    assert first["preferences"] == {
        "categories": ["toys"],
        "channel": "email",
        "marketingChannels": ["ads", "sms"],
    }
    assert second["preferences"]["marketingChannels"] == [] and second["consent"] == {}
    assert first["consent"]["marketing"]["email"] == {
        "granted": False, "ts": "2025-01-01T00:00:00+00:00", "source": "api"
    }  # fmt: skip
    assert first["mlScores"] == {
        "churnRisk": None,
        "clv": None,
        "nextProductPropensity": None,
        "segment": None,
    }
    assert first["realtime"] == {"session": None, "cart": None}
    assert first["lineage"] == {"first_name": "crm:1"}
    assert render_documents(frame.iloc[:0]) == []


def test_consent_feature_row_denies_by_default():
    row = consent_feature_row("a", {"analytics": {"web": {"granted": True}}}, AS_OF.to_pydatetime())
    assert row.iloc[0]["analytics_web"] == 1
    assert row[list(CONSENT_FEATURES)].iloc[0].sum() == 1


def test_a_rebuilt_document_keeps_the_newest_score_run(tmp_path):
    """A profile rebuild renders mlScores from the newest `c360 score` run in the lake, never nulls
    over a score it had; a customer that run did not score stays null."""
    import pyarrow as pa

    from c360.io.lake import Lake
    from c360.profile.partition import latest_ml_scores

    lake = Lake(str(tmp_path / "lake"))
    assert latest_ml_scores(lake, pd.Series(["a"])).empty  # nothing scored yet
    for run, risk in (("20260101T000000Z", 0.9), ("20260201T000000Z", 0.25)):
        scores = pa.table(
            {
                "customer_id": ["a", "c"],
                "churn_risk": [risk, 0.5],
                "clv": [None, 10.0],
                "next_product_propensity": pa.array([None, None], pa.float64()),
                "segment": ["Champions", "At risk"],
            }
        )
        lake.write_table(scores, lake.path("features", "ml_scores", f"part-{run}.parquet"))
    frame = pd.DataFrame([finished_row(), finished_row(customer_id="b")])
    scored = frame.merge(latest_ml_scores(lake, frame["customer_id"]), on="customer_id", how="left")
    first, second = (json.loads(d) for d in render_documents(scored))
    assert first["mlScores"] == {
        "churnRisk": 0.25,
        "clv": None,
        "nextProductPropensity": None,
        "segment": "Champions",
    }
    assert set(second["mlScores"].values()) == {None}
