"""The lake never lists or names a path outside its root (ingest reads it, erasure would rewrite it)."""

from __future__ import annotations

import pytest

from c360.errors import ConfigError
from c360.io.lake import Lake

pytestmark = pytest.mark.unit


def test_glob_and_relative_refuse_paths_outside_the_root(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("a\n1\n")
    lake = Lake(str(tmp_path / "lake"))
    lake.write_text(lake.path("raw/a.csv"), "a\n1\n")
    assert [lake.relative(p) for p in lake.glob("raw/*.csv")] == ["raw/a.csv"]
    with pytest.raises(ConfigError, match="outside the lake root"):
        lake.glob("../outside/*.csv")
    with pytest.raises(ConfigError, match="outside the lake root"):
        lake.glob("raw/../../outside/*.csv")
    with pytest.raises(ConfigError, match="outside the lake root"):
        lake.relative(str(tmp_path / "outside" / "secret.csv"))
    # a sibling whose name starts like the root is outside too
    with pytest.raises(ConfigError, match="outside the lake root"):
        lake.relative(str(tmp_path / "lake2" / "x.csv"))
    assert lake.relative("raw/a.csv") == "raw/a.csv"  # already relative: unchanged
