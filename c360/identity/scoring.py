"""Ray Data composes the pure pair functions: blocks are partitioned by blocking key and scored in parallel.

Each partition holds whole blocks (every record of a key lands in the same partition), so a worker finds all
of its pairs alone. The records' comparison columns go to the object store once and every worker reads them
zero-copy.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.compare import blocking_keys, candidate_pairs, comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.model import FSModel

log = logging.getLogger(__name__)


class PairScorer:
    """One Ray Data actor: pairs of a partition -> comparison levels (and, given a model, only the links)."""

    def __init__(
        self,
        records_ref: list,
        settings_json: str,
        model_json: str | None,
        min_weight: float | None,
        new_only: bool,
    ) -> None:
        import ray

        self.records: pa.Table = ray.get(records_ref[0])
        self.settings = IdentitySettings.model_validate_json(settings_json)
        self.model = FSModel.from_json(model_json) if model_json else None
        self.min_weight = min_weight
        self.new_only = new_only

    def __call__(self, keys: pa.Table) -> pa.Table:
        return score_partition(keys, self.records, self.settings, self.model, self.min_weight, self.new_only)


def score_partition(
    keys: pa.Table,
    records: pa.Table,
    settings: IdentitySettings,
    model: FSModel | None,
    min_weight: float | None,
    new_only: bool,
    threads: int | None = 1,
) -> pa.Table:
    """What each worker runs: candidate pairs, their levels, and (given a model) weights and the filter.
    One DuckDB thread in a Ray worker; `threads=None` (every core) when the driver scores alone."""
    pairs = candidate_pairs(keys, records, len(settings.blocking_rules), new_only=new_only, threads=threads)
    gammas = comparison_vectors(records, pairs, settings, threads=threads)
    if model is None or gammas.num_rows == 0:
        return gammas
    w = model.match_weight(gammas)
    keep = w >= (min_weight if min_weight is not None else -np.inf)
    out = gammas.filter(pa.array(keep))
    return out.append_column("weight", pa.array(w[keep], pa.float64()))


def score_candidates(
    records: pa.Table,
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    model: FSModel | None,
    min_weight: float | None,
    new_mask: np.ndarray | None,
) -> tuple[pa.Table, int]:
    """All candidate pairs (or, given a model, the links) over Ray Data; the table and the block count.

    Fewer than `ray_min_keys` blocking keys (a small workspace; in an incremental run, keys of new records),
    or a one-node cluster, are scored in the driver with every core: a pool of Ray actors pays off only when
    it brings more cores than this machine has."""
    import ray

    keys = blocking_keys(prepared, len(settings.blocking_rules), settings.partitions, new_mask)
    if keys.empty:
        return _empty(records, settings, model is not None), 0
    n_blocks = int(keys.groupby(["rule", "key"]).ngroups)
    # An incremental run pairs only new records: the work grows with their keys, not their blocks' size.
    work = int(keys["is_new"].sum()) if new_mask is not None else len(keys)
    if work < settings.ray_min_keys or _one_node():
        local = pa.Table.from_pandas(keys.drop(columns=["partition"]), preserve_index=False)
        out = score_partition(local, records, settings, model, min_weight, new_mask is not None, threads=None)
        return out.sort_by([("rid_l", "ascending"), ("rid_r", "ascending")]), n_blocks
    parts = [
        pa.Table.from_pandas(grp.drop(columns=["partition"]), preserve_index=False)
        for _, grp in keys.groupby("partition", sort=True)
    ]
    records_ref = ray.put(records)
    # The model travels without its term-frequency tables: the tf values are record columns already.
    model_json = model.to_json() if model is not None else None
    ds = ray.data.from_arrow(parts).map_batches(
        PairScorer,
        fn_constructor_kwargs={
            "records_ref": [records_ref],
            "settings_json": settings.model_dump_json(),
            "model_json": model_json,
            "min_weight": min_weight,
            "new_only": new_mask is not None,
        },
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=max(1, min(_cpus(), len(parts)))),
        zero_copy_batch=True,
    )
    tables = [t for t in ds.iter_batches(batch_size=None, batch_format="pyarrow") if t.num_rows]
    if not tables:
        return _empty(records, settings, model is not None), n_blocks
    out = pa.concat_tables(tables, promote_options="default")
    return out.sort_by([("rid_l", "ascending"), ("rid_r", "ascending")]), n_blocks


def _one_node() -> bool:
    """A Ray cluster of one node: DuckDB in this process already uses every core of it, without shipping the
    records to workers that each rebuild a join over all of them (on 2 cores, 3x faster at 1M records)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) <= 1


def _cpus() -> int:
    import ray

    return max(1, int(ray.available_resources().get("CPU", 1)))


def _empty(records: pa.Table, settings: IdentitySettings, scored: bool) -> pa.Table:
    empty_pairs = pa.table(
        {
            "rid_l": pa.array([], pa.int64()),
            "rid_r": pa.array([], pa.int64()),
            "rule": pa.array([], pa.int8()),
            "rules_mask": pa.array([], pa.int32()),
        }
    )
    out = comparison_vectors(records.slice(0, 0), empty_pairs, settings)
    if scored:
        out = out.append_column("weight", pa.array([], pa.float64()))
    return out
