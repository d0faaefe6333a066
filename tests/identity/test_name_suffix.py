"""A generational suffix that differs (Jr and Sr) is a conflict: father and son stay two customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.cluster import GENERATION_UNKNOWN, cluster_records, conflict_values
from c360.identity.compare import comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.normalize import prepare_records

pytestmark = pytest.mark.unit


def _prepared() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "source": ["crm", "shop", "support"],
            "source_record_id": ["1", "2", "3"],
            "first_name": ["Aubrey", "Aubrey", "Aubrey"],
            "last_name": ["Drake", "Drake", "Drake"],
            "name_suffix": ["Jr", None, "Sr"],
            "street": ["1 Main St"] * 3,
        }
    )
    return prepare_records(pa.Table.from_pandas(df, preserve_index=False), IdentitySettings())


def _arrow(prepared: pd.DataFrame, settings: IdentitySettings) -> pa.Table:
    from c360.identity.compare import comparison_columns

    cols = comparison_columns(settings)
    return pa.table({c: pa.array(prepared[c].astype(object).where(prepared[c].notna(), None)) for c in cols})


def test_suffix_is_compared_and_a_difference_is_the_lowest_level():
    settings = IdentitySettings()
    suffix = next(c for c in settings.comparisons if c.field == "name_suffix")
    assert suffix.conflict and suffix.level_names == ["exact", "different"]
    prepared = _prepared()
    assert prepared["name_suffix"].tolist() == ["jr", None, "sr"]
    pairs = pa.table({"rid_l": [0, 0, 1], "rid_r": [1, 2, 2]})
    only = IdentitySettings(comparisons=[suffix])
    g = comparison_vectors(_arrow(prepared, only), pairs, only).to_pandas()
    assert g["g_name_suffix"].tolist() == [-1, 1, -1]  # unknown, different, unknown


def test_jr_and_sr_never_join_through_a_record_without_a_suffix():
    settings = IdentitySettings()
    conflicts = conflict_values(_prepared(), settings)
    # without a suffix and a birth date, the middle record may be either: it conflicts with both
    assert conflicts["name_suffix"].tolist() == ["jr", GENERATION_UNKNOWN, "sr"]
    links = pd.DataFrame({"rid_l": [0, 1], "rid_r": [1, 2], "weight": [30.0, 20.0], "direct": False})
    result = cluster_records(3, links, conflicts, settings)
    assert len(set(result.labels.tolist())) == 3
    assert result.refused["reason"].tolist() == ["conflict:name_suffix"] * 2


def test_the_same_suffix_is_no_conflict():
    settings = IdentitySettings()
    links = pd.DataFrame({"rid_l": [0], "rid_r": [1], "weight": [30.0], "direct": False})
    conflicts = {"name_suffix": np.array(["jr", "jr"], dtype=object)}
    assert len(set(cluster_records(2, links, conflicts, settings).labels.tolist())) == 1
