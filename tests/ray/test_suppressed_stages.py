"""Resolve and profiles leave suppressed people out, even while the lake still holds their rows (issue 11).

An erasure killed before it reached standardized/ and identity/ leaves the person's rows there; only the
suppression list says they are gone. These tests put a person on the list directly (what an erasure does
first) and run the stages over the untouched lake.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from c360.errors import NotFoundError
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.privacy.suppression import RECORD, add_to_suppression, record_value
from c360.profile.build import build_profiles, read_profiles
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.profile_data import demo_workspace

pytestmark = pytest.mark.ray


@pytest.fixture
def ws(ray_session, tmp_path: Path) -> Workspace:
    ws = demo_workspace(tmp_path / "ws", customers=120, seed=21)
    build_profiles(ws, partitions=2)
    return ws


def a_person(ws: Workspace) -> tuple[str, pd.DataFrame, str]:
    """A customer with several records and an email: (customer id, its id_map rows, the email)."""
    store = IdentityStore(ws.lake)
    id_map, golden = store.read("id_map"), store.read("golden")
    sizes = id_map.groupby("customer_id").size()
    with_email = golden.loc[golden["email"].notna(), "customer_id"]
    cid = sizes[sizes.index.isin(with_email)].sort_values(kind="stable").index[-1]
    email = golden.set_index("customer_id").loc[cid, "email"]
    return str(cid), id_map[id_map["customer_id"] == cid], str(email)


def feature_ids(ws: Workspace, run_id: str) -> set[str]:
    files = [f for f in ws.lake.glob("features/*/*.parquet") if run_id in f]
    if not files:
        return set()
    return set(pd.concat([pd.read_parquet(f, columns=["customer_id"]) for f in files])["customer_id"])


def test_a_suppressed_person_is_not_resolved_nor_profiled(ws: Workspace) -> None:
    cid, rows, email = a_person(ws)
    pairs = zip(rows["source"], rows["source_record_id"], strict=True)
    entries = [(RECORD, record_value(s, r)) for s, r in pairs]
    add_to_suppression(ws.lake, "erasure-1", [*entries, ("email", email), ("customer_id", cid)])

    report = resolve(ws, progress=False)
    assert report.mode == "full"  # the list changed: records already in the graph leave it
    store = IdentityStore(ws.lake)
    id_map, golden = store.read("id_map"), store.read("golden")
    assert not set(rows["record_key"]) & set(id_map["record_key"])
    assert cid not in set(id_map["customer_id"])
    assert email not in set(golden["email"].dropna())
    assert not any(email in list(e) for e in golden["emails"].dropna())

    profiles = build_profiles(ws, partitions=2, full=True)  # everyone rebuilt: feature rows for all
    assert cid not in set(read_profiles(ws.lake, ["customer_id"])["customer_id"])
    assert feature_ids(ws, profiles.run_id) and cid not in feature_ids(ws, profiles.run_id)
    with open_profile_store(ws) as profile_store:
        with pytest.raises(NotFoundError):
            profile_store.get(cid)
        with pytest.raises(NotFoundError):
            profile_store.lookup("email", email)


def test_profiles_skip_a_suppressed_customer_id_before_identity_has_run(ws: Workspace) -> None:
    cid, _, _ = a_person(ws)
    assert cid in set(read_profiles(ws.lake, ["customer_id"])["customer_id"])
    add_to_suppression(ws.lake, "erasure-2", [("customer_id", cid)])
    report = build_profiles(ws, partitions=2, full=True)  # no resolve: identity still holds the person
    assert report.removed >= 1
    assert cid not in set(read_profiles(ws.lake, ["customer_id"])["customer_id"])
    assert feature_ids(ws, report.run_id) and cid not in feature_ids(ws, report.run_id)
    with open_profile_store(ws) as profile_store, pytest.raises(NotFoundError):
        profile_store.get(cid)


def test_someone_sharing_an_erased_persons_identifier_keeps_their_records_and_profile(ws: Workspace) -> None:
    """A household phone or a shared email is on the list when one of its people is erased; the others who
    carry it were not erased, so resolve keeps their records and profiles keep their profile."""
    cid, rows, email = a_person(ws)
    add_to_suppression(ws.lake, "erasure-3", [("email", email)])  # the identifier only: someone else's

    resolve(ws, progress=False)
    id_map = IdentityStore(ws.lake).read("id_map")
    assert set(rows["record_key"]) <= set(id_map["record_key"])
    build_profiles(ws, partitions=2, full=True)
    assert cid in set(read_profiles(ws.lake, ["customer_id"])["customer_id"])
    with open_profile_store(ws) as profile_store:
        assert profile_store.get(cid)["customerId"] == cid
