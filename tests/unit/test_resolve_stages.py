"""The stages of a resolve run on small hand-made inputs whose right answer is known: the evidence rule and
corrections in clustering, ids kept and merged, the link and cluster rows, the counts of an incremental
write, and the links an incremental run keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.assign import customer_ids
from c360.identity.clustering import Clustering, LinkedRecords, RidCorrections, cluster_links
from c360.identity.config import IDENTITY_FIELDS, IdentitySettings
from c360.identity.ids import new_customer_id
from c360.identity.incremental import Neighbourhood, fresh_records, merged_links
from c360.identity.links import LinkParts, comparable_records
from c360.identity.model import FSModel, threshold_weight
from c360.identity.normalize import prepare_records
from c360.identity.outputs import IdentityTables, Previous, RunStamp, stored_counts
from c360.identity.tables import cluster_rows, link_rows

pytestmark = pytest.mark.unit

SETTINGS = IdentitySettings()
MATCH = threshold_weight(SETTINGS.match_threshold)
RUN = RunStamp("r2", datetime(2026, 2, 1, tzinfo=UTC))
NO_CORRECTIONS = RidCorrections([], [], {})


def raw_rows(n: int, **fields: list) -> pd.DataFrame:
    """n identity records s:0 .. s:n-1, every field empty but those given."""
    base = {f: [None] * n for f in IDENTITY_FIELDS if f != "source"}
    df = pd.DataFrame({**base, "source": "s", "source_record_id": [str(i) for i in range(n)], **fields})
    df["record_key"] = "s:" + df["source_record_id"]
    return df


def linked(n: int, links: list[tuple[int, int, str, float, str]]) -> LinkedRecords:
    """n records without conflicting values; links (rid_l, rid_r, kind, weight, refusal)."""
    raw = raw_rows(n)
    prepared = prepare_records(raw, SETTINGS)
    frame = pd.DataFrame(links, columns=["rid_l", "rid_r", "kind", "weight", "refusal"])
    frame["rule"] = "email"
    frame["record_key_l"] = "s:" + frame["rid_l"].astype(str)
    frame["record_key_r"] = "s:" + frame["rid_r"].astype(str)
    return LinkedRecords(raw, prepared, comparable_records(prepared, SETTINGS, None), frame)


def model(n: int) -> FSModel:
    """A model with no comparison: every pair weighs its prior, even odds (0 bits)."""
    return FSModel([], {}, {}, {}, 0.5, n)


def groups(labels: np.ndarray) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for rid, lab in enumerate(labels):
        out.setdefault(int(lab), set()).add(rid)
    return {frozenset(g) for g in out.values()}


def test_evidence_clusters_only_when_its_own_comparison_clears_the_match_threshold() -> None:
    records = linked(
        4,
        [
            (0, 1, "deterministic", 1.0, ""),
            (1, 2, "evidence", MATCH - 1, "shared device_id: too little else agrees"),
            (2, 3, "evidence", MATCH + 1, "shared device_id: too little else agrees"),
        ],
    )
    c = cluster_links(records, NO_CORRECTIONS, model(4), SETTINGS)
    assert groups(c.labels) == {frozenset({0, 1}), frozenset({2, 3})}
    assert c.clustered.tolist() == [True, False, True]
    # Only the evidence that did not cluster keeps its refusal; the links table shows it as the reason.
    assert c.evidence_refusal.tolist() == ["", "shared device_id: too little else agrees", ""]
    assert "refusal" not in c.links and c.refused.empty and c.oversized == 0
    # Every link, clustered or not, joins the component: one component, labelled by its smallest key.
    smallest = pd.util.hash_array(np.array(["s:0"], dtype=object), categorize=True).view(np.int64)[0]
    assert c.components.tolist() == [smallest] * 4
    rows = link_rows(c)
    assert rows["accepted"].tolist() == [True, False, True]
    assert rows["reason"].tolist() == ["", "shared device_id: too little else agrees", ""]


def test_a_do_not_link_correction_refuses_the_weakest_link_between_its_sides() -> None:
    records = linked(3, [(0, 1, "probabilistic", 30.0, ""), (1, 2, "probabilistic", 20.0, "")])
    corrections = RidCorrections(must=[], cannot=[([0], [2])], touched={0: "c1", 2: "c1"})
    c = cluster_links(records, corrections, model(3), SETTINGS)
    assert groups(c.labels) == {frozenset({0, 1}), frozenset({2})}
    assert c.refused[["rid_l", "rid_r", "reason"]].values.tolist() == [[1, 2, "do_not_link"]]
    rows = link_rows(c)
    assert rows["accepted"].tolist() == [True, False]
    assert rows["reason"].tolist() == ["", "do_not_link"]
    assert rows["probability"].round(6).tolist() == [
        round(1 / (1 + 2.0**-30), 6),
        round(1 / (1 + 2.0**-20), 6),
    ]


def test_a_must_link_joins_records_without_a_link_and_their_components() -> None:
    records = linked(3, [])
    c = cluster_links(records, RidCorrections([[0, 2]], [], {0: "c1", 2: "c1"}), model(3), SETTINGS)
    assert groups(c.labels) == {frozenset({0, 2}), frozenset({1})}
    assert c.components[0] == c.components[2] != c.components[1]


def clustering(labels: list[int], links: list[tuple[int, int, str, str, float]]) -> Clustering:
    frame = pd.DataFrame(links, columns=["rid_l", "rid_r", "kind", "rule", "weight"])
    return Clustering(
        labels=np.asarray(labels, dtype=np.int64),
        components=np.zeros(len(labels), dtype=np.int64),
        links=frame,
        clustered=np.ones(len(frame), dtype=bool),
        evidence_refusal=pd.Series("", index=frame.index),
        refused=pd.DataFrame(columns=["rid_l", "rid_r", "weight", "reason"]),
        oversized=0,
    )


def previous(id_map: dict[str, str], history: list[tuple[str, int, str]]) -> Previous:
    return Previous(
        id_map=pa.table({"record_key": list(id_map), "customer_id": list(id_map.values())}),
        clusters=pd.DataFrame(
            {
                "customer_id": [h[0] for h in history],
                "n_records": [h[1] for h in history],
                "first_seen": pd.to_datetime([h[2] for h in history], utc=True),
            }
        ),
        aliases=pd.DataFrame(columns=["alias_id", "customer_id", "created_at", "run_id"]),
    )


def test_a_merge_keeps_the_id_with_most_history_and_says_which_link_merged() -> None:
    keys = np.array(["s:0", "s:1", "s:2", "s:3"], dtype=object)
    last = previous(
        {"s:0": "cus_a", "s:1": "cus_a", "s:2": "cus_b"},
        [("cus_a", 2, "2026-01-01"), ("cus_b", 1, "2026-01-02")],
    )
    c = clustering(
        [0, 0, 0, 3], [(0, 1, "deterministic", "email", 40.0), (1, 2, "probabilistic", "name+dob", 12.0)]
    )
    ids = customer_ids(keys, c, last, {}, RUN)
    fresh = new_customer_id("s:3", {"cus_a", "cus_b"})
    assert ids.customer.tolist() == ["cus_a", "cus_a", "cus_a", fresh]
    changes = ids.assignment.changes
    assert changes[["kind", "customer_id", "other_customer_id", "reason"]].values.tolist() == [
        ["merge", "cus_a", "cus_b", "probabilistic link (name+dob)"],
        ["new", fresh, None, "new records"],
    ]
    assert ids.assignment.new_aliases[["alias_id", "customer_id"]].values.tolist() == [["cus_b", "cus_a"]]
    assert sorted(ids.previous["customer_id"]) == ["cus_a", "cus_a", "cus_b"]


def test_a_correction_is_the_reason_a_customer_splits() -> None:
    keys = np.array(["s:0", "s:1"], dtype=object)
    last = previous({"s:0": "cus_a", "s:1": "cus_a"}, [("cus_a", 2, "2026-01-01")])
    ids = customer_ids(keys, clustering([0, 1], []), last, {1: "c9"}, RUN)
    assert ids.customer[0] == "cus_a" and ids.customer[1] != "cus_a"
    row = ids.assignment.changes.iloc[0]
    assert (row["kind"], row["other_customer_id"], row["reason"]) == ("split", "cus_a", "correction c9")


def test_cluster_rows_keep_first_seen_and_date_new_customers_by_the_run() -> None:
    id_map = pd.DataFrame({"customer_id": ["cus_a", "cus_a", "cus_new"]})
    history = pd.DataFrame(
        {"customer_id": ["cus_a"], "n_records": [1], "first_seen": pd.to_datetime(["2026-01-01"], utc=True)}
    )
    rows = cluster_rows(id_map, history, RUN.at)
    assert rows["customer_id"].tolist() == ["cus_a", "cus_new"]
    assert rows["n_records"].tolist() == [2, 1]
    assert rows["first_seen"].tolist() == [pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp(RUN.at)]
    assert (rows["updated_at"] == pd.Timestamp(RUN.at)).all()


def test_an_incremental_write_counts_the_rows_it_keeps_and_not_those_it_replaces() -> None:
    stored_links = pa.table(
        {
            "record_key_l": ["s:0", "s:5", "s:6", "s:7"],
            "kind": ["deterministic", "deterministic", "probabilistic", "evidence"],
        }
    )
    last = Previous(
        id_map=None,
        clusters=pd.DataFrame({"customer_id": ["cus_a", "cus_b", "cus_c"]}),
        aliases=pd.DataFrame(),
        links=stored_links,
        incremental=True,
    )
    empty = pd.DataFrame()
    tables = IdentityTables(
        id_map=empty,
        clusters=pd.DataFrame({"customer_id": ["cus_a", "cus_d"]}),
        golden=empty,
        links=pd.DataFrame({"kind": ["probabilistic", "probabilistic", "evidence"]}),
        aliases=empty,
        changes=empty,
        replaced_customers=pa.array(["cus_a"], pa.string()),
        record_keys=pa.array(["s:0", "s:1"], pa.string()),
    )
    counts = stored_counts(tables, last)
    # cus_a replaced by cus_a and cus_d; cus_b and cus_c kept. s:0's link goes, s:5's and s:6's stay.
    assert (counts.customers, counts.deterministic_links, counts.probabilistic_links) == (4, 1, 3)


def test_fresh_records_are_the_new_and_the_changed_ones() -> None:
    before = prepare_records(raw_rows(2, first_name=["ann", "bob"]), SETTINGS)
    old = pa.Table.from_pandas(before[["record_key", "fingerprint"]], preserve_index=False)
    fresh = fresh_records(old, raw_rows(3, first_name=["ann", "rob", "cat"]), SETTINGS)
    assert (fresh.new_keys, fresh.changed_keys) == ({"s:2"}, {"s:1"})
    assert fresh.raw["record_key"].tolist() == fresh.prepared["record_key"].tolist() == ["s:1", "s:2"]
    assert fresh.raw["first_name"].tolist() == ["rob", "cat"]


def test_merged_links_keep_last_runs_links_but_those_this_run_finds_again() -> None:
    keyed = {"record_key_l": ["s:0", "s:0", "s:1"], "record_key_r": ["s:1", "s:2", "s:2"]}
    stored = pa.table(
        {
            **keyed,
            "kind": ["deterministic", "probabilistic", "probabilistic"],
            "rule": ["email+phone", "name", "name"],
            "weight": [30.0, 12.0, 11.0],
            "accepted": [True, True, True],
            "probability": [1.0, 1.0, 1.0],
            "reason": ["", "", ""],
        }
    )
    # s:2 changed; s:1 carries a touched email value, so its email links are found again (here: none).
    hood = Neighbourhood(
        frame=pd.DataFrame(),
        fresh=np.zeros(0, dtype=bool),
        touched={"email__id": pa.array(["a@x.org"])},
        carriers={"email__id": pa.array(["s:1"])},
    )
    empty_pairs = pd.DataFrame(
        {c: pd.Series([], dtype=object) for c in ("record_key_l", "record_key_r", "rule")}
    )
    new = LinkParts(
        deterministic=empty_pairs,
        evidence=empty_pairs.assign(refusal=pd.Series([], dtype=object)),
        probabilistic=pd.DataFrame(
            {
                "rid_l": [0],
                "rid_r": [1],
                "record_key_l": ["s:0"],
                "record_key_r": ["s:2"],
                "kind": ["probabilistic"],
                "rule": ["name"],
                "weight": [13.0],
            }
        ),
    )
    parts = merged_links(stored, pa.array(["s:0", "s:1", "s:2"]), hood, {"s:2"}, new)
    assert parts.deterministic.values.tolist() == [["s:0", "s:1", "phone"]]
    assert parts.probabilistic[["record_key_l", "record_key_r", "weight"]].values.tolist() == [
        ["s:0", "s:2", 13.0]
    ]
    assert parts.evidence.empty
