"""The identity benchmark's threshold sweep on FEBRL3: c360 resolved again per threshold, the fair Splink
clustered per threshold, both read at the shared and at the oracle threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from c360.bench.identity import febrl_quality
from c360.bench.identity_sweep import summary_rows

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_febrl3_sweep_reports_both_tools_at_every_threshold(ray_session, tmp_path: Path) -> None:
    runs = febrl_quality(3, with_ssn=False, splink=True, workdir=tmp_path, thresholds=[0.2, 0.999])
    curve = runs.curve
    assert curve is not None and curve.shared == 0.99  # the default match_threshold, added to the grid
    assert sorted({(p.tool, p.threshold) for p in curve.points}) == [
        (tool, t) for tool in ("Splink", "c360") for t in (0.2, 0.99, 0.999)
    ]
    rows = {r["run"].split()[0]: r for r in runs.rows}
    for tool in ("c360", "Splink"):
        at_shared = curve.at(tool, 0.99)
        assert at_shared is not None and at_shared.f1 == pytest.approx(rows[tool]["pairwise_f1"])
        assert all(p.f1 > 0.8 for p in curve.points if p.tool == tool)
    # a stricter threshold never gains c360 recall: the sweep re-resolved with the threshold it was given
    c360 = {p.threshold: p for p in curve.points if p.tool == "c360"}
    assert c360[0.999].recall <= c360[0.99].recall <= c360[0.2].recall
    best = {r["tool"]: r for r in summary_rows([curve])}
    assert best["c360"]["f1_at_oracle"] >= best["c360"]["f1_at_shared"]
