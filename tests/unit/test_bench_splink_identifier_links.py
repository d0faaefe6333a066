"""The fair Splink can cluster with c360's outright links on personal identifiers: a record holding only an
email joins its person whatever the threshold; a device (shared by nature) links nothing outright."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.bench.splink_baseline import SplinkRun, identifier_links
from c360.identity.config import IdentitySettings

pytestmark = pytest.mark.unit

KEYS = pd.Series(["a", "b", "c", "d", "e"])
IDS = pd.DataFrame(
    {
        "email": ["x@example.org", "x@example.org", None, None, "y@example.org"],
        "phone": [None, None, "555", "555", None],
        "device_id": ["tab", None, None, None, "tab"],
    }
)


class _Predictions:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def as_pandas_dataframe(self) -> pd.DataFrame:
        return self.frame


def test_personal_identifiers_link_as_a_star_and_shared_ones_do_not():
    links = identifier_links(IDS, KEYS, IdentitySettings())
    assert sorted(map(tuple, links.to_numpy().tolist())) == [("a", "b"), ("c", "d")]


def test_clusters_join_the_predictions_at_the_threshold_with_the_identifier_links():
    pred = pd.DataFrame(
        {"unique_id_l": ["b", "d"], "unique_id_r": ["c", "e"], "match_probability": [0.995, 0.5]}
    )
    run = SplinkRun(None, _Predictions(pred), KEYS, 0.0, identifier_links(IDS, KEYS, IdentitySettings()))
    labels, _ = run.labels(0.99)
    assert labels.to_dict() == {"a": "a", "b": "a", "c": "a", "d": "a", "e": "e"}
    labels, _ = run.labels(0.999)  # the prediction drops out; the email and the phone still link
    assert labels.to_dict() == {"a": "a", "b": "a", "c": "c", "d": "c", "e": "e"}
