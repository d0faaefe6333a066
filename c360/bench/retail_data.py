"""The Online Retail example workspace and what its stages wrote, for the benchmarks and tests on it.

`build_workspace` runs the user's path: the example's `c360.yaml` and `setup.sh` (which links the dataset
into the lake) copied into a folder, then `c360 ingest`, `resolve`, `facts`. `example_workspace` gives a
built one (reused when its facts exist, else built in a temporary folder). `Facts` reads what the stages
wrote once: transaction lines and golden records, and the profile features at any cutoff through the
feature history's code; `PreviousYearFacts` reads Online Retail II 2009-2010 the same way with pandas (the
models benchmark's second split). `TWO_YEARS` is the example that maps both exports of the shop by config (the
recommendations benchmark's `--previous-year`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "online_retail"
TWO_YEARS = REPO / "examples" / "online_retail_two_years"
"""The same shop's two exports (2009-2010 and 2010-2011) as one source, mapped by config only."""
PREVIOUS_YEAR = "online_retail_II_2009-2010.parquet"
DAY_COUNTS = {
    "first_seen_at": "tenure_days",
    "last_purchase_at": "days_since_last_purchase",
    "last_interaction_at": "days_since_last_interaction",
}
"""Profile timestamps and the clv feature service's day counts from them (feature_repo/on_demand.py)."""


def dataset_path() -> Path:
    """online_retail.parquet: under $C360_DATASETS, beside the checkout (../shared/datasets), or in
    /work/shared/datasets."""
    roots = [
        *([Path(os.environ["C360_DATASETS"])] if os.environ.get("C360_DATASETS") else []),
        REPO.parent / "shared" / "datasets",
        Path("/work/shared/datasets"),
    ]
    for root in roots:
        path = root / "online_retail" / "online_retail.parquet"
        if path.exists():
            return path
    from c360.errors import NotFoundError

    raise NotFoundError(f"online_retail.parquet not found under {', '.join(map(str, roots))}")


def build_workspace(folder: Path, dataset: Path | None = None, example: Path = EXAMPLE) -> Path:
    """The `example` workspace (the one-year example, or `TWO_YEARS`) in `folder`: its config and setup
    script copied, the script run with the dataset's path (it links the file, or both years' files beside
    it, into the lake), then `c360 ingest`, `resolve`, `facts`."""
    from c360.cli import run_cli

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(example / "c360.yaml", folder / "c360.yaml")
    shutil.copy(example / "setup.sh", folder / "setup.sh")
    dataset = dataset or dataset_path()
    subprocess.run(["sh", str(folder / "setup.sh"), str(dataset)], check=True, capture_output=True)
    for command in ("ingest", "resolve", "facts"):
        code = run_cli([command, "--workspace", str(folder)])
        if code != 0:
            raise RuntimeError(f"c360 {command} exited with {code}")
    return folder


class Facts:
    """What the stages wrote, read once: transaction lines (Arrow and pandas) and the golden records."""

    def __init__(self, folder: Path) -> None:
        from c360.facts.schemas import INTERACTIONS, SCHEMAS, TRANSACTION_LINES
        from c360.facts.store import read_facts
        from c360.features.history import GOLDEN_COLUMNS, INTERACTION_COLUMNS, TX_COLUMNS, typed_golden
        from c360.identity.store import IdentityStore
        from c360.workspace import Workspace

        lake = Workspace.load(folder).lake
        columns = sorted({*TX_COLUMNS, "quantity"})
        self.tx = read_facts(lake, TRANSACTION_LINES, columns=columns)
        self.lines = self.tx.to_pandas()
        self.lines["ts"] = pd.to_datetime(self.lines["ts"], utc=True)
        self.inter = SCHEMAS[INTERACTIONS].empty_table().select(INTERACTION_COLUMNS)
        golden = IdentityStore(lake).read_arrow("golden", columns=GOLDEN_COLUMNS, sort=False)
        self.golden = typed_golden(golden.to_pandas())

    def profile_features(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        """The feature views' customer rows at `cutoff` (feature history's code), one frame by customer_id;
        timestamps (first_seen_at, last_purchase_at, ...) as days before the cutoff."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from c360.features.history import features_at

        bound = pa.scalar(cutoff.to_pydatetime(), type=self.tx.schema.field("ts").type)
        views = features_at(self.golden, self.tx.filter(pc.field("ts") <= bound), self.inter, cutoff)
        frame = views["profile"]
        for name in ("transactions", "engagement_rfm", "support_sentiment"):
            frame = frame.merge(views[name].drop(columns=["event_timestamp"]), on="customer_id", how="outer")
        for col in frame.columns:  # timestamps as days before the cutoff: every model reads them as numbers
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype) and col != "event_timestamp":
                frame[col] = (cutoff - frame[col]) / pd.Timedelta(days=1)
        frame["event_timestamp"] = cutoff
        for stamp, days in DAY_COUNTS.items():  # the clv feature service's whole days (`elapsed_days`)
            if stamp in frame.columns:
                frame[days] = np.floor(pd.to_numeric(frame[stamp], errors="coerce"))
        return frame.set_index("customer_id")


class PreviousYearFacts(Facts):
    """Online Retail II 2009-2010 (the same shop a year earlier) as facts, read with pandas: the split the
    combination was chosen on. Not the user's path (the example's config maps the 2010-2011 file's column
    names); the same rules: lines without a customer dropped, C invoices are cancellations, other negative
    quantities dropped, amount = quantity x price, London time to UTC. No golden record attributes."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        from c360.facts.schemas import INTERACTIONS, SCHEMAS, TRANSACTION_LINES
        from c360.features.history import INTERACTION_COLUMNS, TX_COLUMNS, typed_golden

        raw = pd.read_parquet(path)
        raw = raw[raw["Customer ID"].notna()]
        kind = np.where(raw["Invoice"].astype(str).str.startswith("C"), "cancel", "purchase")
        keep = (kind == "cancel") | (raw["Quantity"].to_numpy() > 0)
        raw, kind = raw[keep], kind[keep]
        ts = pd.to_datetime(raw["InvoiceDate"]).dt.tz_localize(
            "Europe/London", ambiguous="NaT", nonexistent="NaT"
        )
        lines = pd.DataFrame(
            {
                "customer_id": raw["Customer ID"].astype("int64").astype(str).to_numpy(),
                "order_id": raw["Invoice"].astype(str).to_numpy(),
                "ts": ts.dt.tz_convert("UTC").to_numpy(),
                "product_id": raw["StockCode"].astype(str).to_numpy(),
                "category": None,
                "amount_rc": (raw["Quantity"] * raw["Price"]).to_numpy(dtype="float64"),
                "kind": kind,
                "quantity": raw["Quantity"].to_numpy(dtype="int64"),
            }
        )
        self.lines = lines[lines["ts"].notna()].reset_index(drop=True)
        self.lines["ts"] = pd.to_datetime(self.lines["ts"], utc=True)
        schema = pa.schema([SCHEMAS[TRANSACTION_LINES].field(c) for c in sorted({*TX_COLUMNS, "quantity"})])
        self.tx = pa.Table.from_pandas(self.lines[schema.names], schema=schema, preserve_index=False)
        self.inter = SCHEMAS[INTERACTIONS].empty_table().select(INTERACTION_COLUMNS)
        ids = self.lines["customer_id"].unique()
        self.golden = typed_golden(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "first_observed": pd.NaT,
                    "birth_date": pd.NaT,
                    "gender": None,
                    "country": None,
                }
            )  # fmt: skip
        )


@contextmanager
def example_workspace(
    workdir: Path | None, keep: bool, prefix: str, example: Path = EXAMPLE
) -> Iterator[Path]:
    """The `example` workspace's folder: `workdir` (built there unless its facts exist, and kept), else a
    temporary folder it is built in and removed from on exit unless `keep`."""
    if workdir is None:
        temp: Path | None = Path(tempfile.mkdtemp(prefix=prefix))
        folder = temp / "online_retail"
    else:
        temp, folder = None, Path(workdir)
    try:
        if not (folder / "data" / "lake" / "facts").exists():
            build_workspace(folder, dataset_path(), example)
        yield folder
    finally:
        if temp is not None and not keep:
            shutil.rmtree(temp, ignore_errors=True)
