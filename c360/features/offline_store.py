"""Feast's file offline store with the point-in-time join done by a DuckDB ASOF join.

Feast 0.67's `file` store (Dask) joins each view by merging every entity row with every feature row of its
customer, filtering by time and ttl, sorting and dropping duplicates: a 20,000-customer x 12-cutoff training
set over the backfilled history did not finish in 17 minutes on 2 cores. Feast's `duckdb` store (ibis) is
correct but spends three quarters of its time numbering the joined rows in a window per entity row.

This store keeps Feast's semantics and everything else of the file store (materialize, pull, the file
sources, on-demand views applied by Feast's retrieval job, feature services resolved by Feast) and answers
`get_historical_features` with one DuckDB `ASOF LEFT JOIN` per feature view:

- for each entity row, the feature row with the same join keys and the latest `timestamp_field` at or
  before the row's event timestamp (never a later one);
- none (nulls) when that row is older than the view's ttl (`ts < row time - ttl`): the latest row being
  too old means every earlier one is too, so this equals Feast's "latest row within [time - ttl, time]";
- with a `created_timestamp_column`, the row created last among rows with the same key and time;
- every entity row is kept, in its order, with its own columns (`as_of` for the on-demand view
  `elapsed_days` included); one with no feature row yet gets nulls. (The Dask store drops an entity row
  when a view holds rows for its key but all of them after the row's time, and collapses entity rows with
  equal keys and time; Feast's duckdb store keeps them, as this one does.)

A request this join does not cover (no entity dataframe, a view without join keys, a created-timestamp
cutoff, a source that is not a parquet FileSource) goes to the Dask store unchanged.

Configured as `offline_store: {type: c360.features.offline_store.AsofOfflineStore}` (c360/features/store.py
renders it; feature_repo/feature_store.yaml names it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from feast.data_format import ParquetFormat
from feast.feature_view import FeatureView
from feast.infra.offline_stores.dask import DaskOfflineStore, DaskOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import RepoConfig
from feast.saved_dataset import SavedDatasetStorage

STORE_TYPE = "c360.features.offline_store.AsofOfflineStore"
ROW = "__c360_row"
ENTITY_TS = "__c360_ts"
FEATURE_TS = "__c360_fts"


class AsofOfflineStoreConfig(DaskOfflineStoreConfig):
    """The file store's config (so its materialize and pull paths accept it) under this store's type."""

    type: Literal["c360.features.offline_store.AsofOfflineStore"] = STORE_TYPE  # type: ignore[assignment]


class AsofOfflineStore(DaskOfflineStore):
    """`get_historical_features` by DuckDB ASOF joins; everything else is Feast's file (Dask) store."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        ts_col = _entity_time_column(entity_df) if isinstance(entity_df, pd.DataFrame) else None
        if (
            ts_col is None
            or kwargs
            or not all(_covered(fv, filter_by_created_timestamp) for fv in feature_views)
        ):
            return DaskOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names=full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
                **kwargs,
            )
        assert isinstance(entity_df, pd.DataFrame)
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        times = pd.to_datetime(entity_df[ts_col], utc=True)
        return AsofRetrievalJob(
            plan=_plan(feature_views, feature_refs, odfvs, full_feature_names),
            entity_df=entity_df,
            ts_col=ts_col,
            repo_path=str(config.repo_path),
            full_feature_names=full_feature_names,
            on_demand_feature_views=odfvs,
            metadata=RetrievalMetadata(
                features=feature_refs,
                keys=[c for c in entity_df.columns if c != ts_col],
                min_event_timestamp=times.min().to_pydatetime() if len(times) else None,
                max_event_timestamp=times.max().to_pydatetime() if len(times) else None,
            ),
        )


def _entity_time_column(entity_df: pd.DataFrame) -> str | None:
    """Feast's rule: `event_timestamp`, else the one datetime column; None when neither (the Dask store
    then raises its own error)."""
    if DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL in entity_df.columns:
        return DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL
    found = entity_df.select_dtypes(include=["datetime", "datetimetz"]).columns
    return str(found[0]) if len(found) == 1 else None


def _covered(fv: FeatureView, filter_by_created_timestamp: bool) -> bool:
    source = fv.batch_source
    return (
        isinstance(source, FileSource)
        and isinstance(source.file_format, ParquetFormat | None)
        and bool(fv.entity_columns)
        and not (filter_by_created_timestamp and source.created_timestamp_column)
    )


class _ViewPlan:
    """What to read from one view's source and how its columns are named in the result."""

    def __init__(self, fv: FeatureView, features: list[str], full_feature_names: bool) -> None:
        source = fv.batch_source
        assert isinstance(source, FileSource)
        self.source = source
        self.uri = source.file_options.uri
        mapping = dict(source.field_mapping or {})  # source column -> feature view name
        back = {v: k for k, v in mapping.items()}
        join_map = fv.projection.join_key_map or {}
        # (source column, entity dataframe column) per join key
        self.keys = [(back.get(e.name, e.name), join_map.get(e.name, e.name)) for e in fv.entity_columns]
        self.timestamp = back.get(source.timestamp_field, source.timestamp_field)
        created = source.created_timestamp_column
        self.created = back.get(created, created) if created else None
        prefix = fv.projection.name_to_use()
        # (source column, output name)
        self.features = [(back.get(f, f), f"{prefix}__{f}" if full_feature_names else f) for f in features]
        self.ttl: timedelta | None = fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None


def _plan(
    feature_views: Sequence[FeatureView],
    feature_refs: Sequence[str],
    odfvs: Sequence[OnDemandFeatureView],
    full_feature_names: bool,
) -> list[_ViewPlan]:
    """Per view, the features asked for directly and those the requested on-demand views read."""
    wanted: dict[str, list[str]] = {}
    for ref in feature_refs:
        view, name = ref.split(":", 1)
        wanted.setdefault(view, []).append(name)
    for odfv in odfvs:
        for projection in odfv.source_feature_view_projections.values():
            wanted.setdefault(projection.name_to_use(), []).extend(f.name for f in projection.features)
    plans = []
    for fv in feature_views:
        names = list(dict.fromkeys(wanted.get(fv.projection.name_to_use(), [])))
        if names:
            plans.append(_ViewPlan(fv, names, full_feature_names))
    return plans


def _micros(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Microseconds since the epoch in UTC (a naive time counts as UTC, as in Feast's file store), nanoseconds
    cut off like DuckDB's cast of the feature rows' times."""
    if not pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.timestamp("us", tz="UTC"))
    return pc.cast(pc.cast(values, pa.timestamp("us", tz=values.type.tz), safe=False), pa.int64())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dataset(plan: _ViewPlan, repo_path: str) -> pds.Dataset:
    """The view's parquet files as one dataset, its schema unified over the files (a column one file
    lacks is null there; int32 in one file and int64 in another read as int64)."""
    path = FileSource.get_uri_for_file_path(repo_path=repo_path, uri=plan.uri)
    path = str(path)
    if "://" in path and not path.startswith("file://"):
        import fsspec

        fs, root = fsspec.core.url_to_fs(path)
        found = pds.dataset(root, filesystem=fs, format="parquet")
    else:
        found = pds.dataset(path.removeprefix("file://"), format="parquet")
    files = list(found.get_fragments())
    if len(files) > 1:
        schema = pa.unify_schemas([f.physical_schema for f in files], promote_options="permissive")
        found = pds.dataset(found.files, filesystem=found.filesystem, format="parquet", schema=schema)
    return found


def _join_view(
    con: duckdb.DuckDBPyConnection, plan: _ViewPlan, data: pds.Dataset, entity: pa.Table
) -> pa.Table:
    """One view's features per entity row, in row order (ROW ascending)."""
    names = set(data.schema.names)
    needed = [c for c, _ in plan.keys] + [plan.timestamp] + ([plan.created] if plan.created else [])
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(f"feature source {plan.uri} has no column(s) {missing}")
    con.register("__source", data)  # DuckDB reads only the columns the query names
    keys = [(c, f"__k{i}") for i, (c, _) in enumerate(plan.keys)]
    inner = ", ".join(
        [
            *(f"{_quote(c)} AS {k}" for c, k in keys),
            f"epoch_us(CAST({_quote(plan.timestamp)} AS TIMESTAMPTZ)) AS {FEATURE_TS}",
            *(f"{_quote(c)} AS {_quote('__f_' + out)}" for c, out in plan.features if c in names),
        ]
    )
    where = f"WHERE {_quote(plan.timestamp)} IS NOT NULL"
    if plan.created:  # the row created last among rows with the same key and time
        partition = ", ".join(_quote(c) for c, _ in keys)
        where += (
            f" QUALIFY row_number() OVER (PARTITION BY {partition}, {_quote(plan.timestamp)} "
            f"ORDER BY {_quote(plan.created)} DESC NULLS LAST) = 1"
        )
    fresh = "TRUE"
    if plan.ttl is not None:
        ttl_us = int(plan.ttl / timedelta(microseconds=1))
        fresh = f"v.{FEATURE_TS} >= e.{ENTITY_TS} - {ttl_us}"
    outputs = [
        f"CASE WHEN {fresh} THEN v.{_quote('__f_' + out)} END AS {_quote(out)}"
        if c in names
        else f"NULL AS {_quote(out)}"
        for c, out in plan.features
    ]
    on = " AND ".join(
        [
            *(
                f"e.{_quote(entity_col)} = v.{k}"
                for (_, entity_col), (_, k) in zip(plan.keys, keys, strict=True)
            ),
            f"e.{ENTITY_TS} >= v.{FEATURE_TS}",
        ]
    )
    con.register("__entity", entity)
    sql = (
        f"SELECT {', '.join(outputs)} FROM __entity AS e "
        f"ASOF LEFT JOIN (SELECT {inner} FROM __source {where}) AS v ON {on} ORDER BY e.{ROW}"
    )
    result = con.sql(sql).to_arrow_table()
    con.unregister("__entity")
    con.unregister("__source")
    # back to the source's types (DuckDB returns times in its session zone, strings as large strings)
    fields = []
    for c, out in plan.features:
        typ = data.schema.field(c).type if c in names else pa.null()
        fields.append(pa.field(out, typ))
    return pa.Table.from_arrays(
        [result.column(i).cast(f.type) for i, f in enumerate(fields)], schema=pa.schema(fields)
    )


class AsofRetrievalJob(RetrievalJob):
    """Runs the ASOF joins when the result is asked for; Feast's base class then applies on-demand views."""

    def __init__(
        self,
        plan: list[_ViewPlan],
        entity_df: pd.DataFrame,
        ts_col: str,
        repo_path: str,
        full_feature_names: bool,
        on_demand_feature_views: list[OnDemandFeatureView],
        metadata: RetrievalMetadata,
    ) -> None:
        self._plan = plan
        self._entity_df = entity_df
        self._ts_col = ts_col
        self.repo_path = repo_path
        self._full_feature_names = full_feature_names
        self._on_demand_feature_views = on_demand_feature_views
        self._metadata = metadata

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._on_demand_feature_views

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def _entity_table(self) -> pa.Table:
        df = self._entity_df.copy()
        df[self._ts_col] = pd.to_datetime(df[self._ts_col], utc=True)
        table = pa.Table.from_pandas(df, preserve_index=False)
        return table

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        table = self._entity_table()
        keys = list(dict.fromkeys(entity_col for p in self._plan for _, entity_col in p.keys))
        missing = [k for k in keys if k not in table.column_names]
        if missing:
            raise ValueError(f"the entity dataframe has no join key column(s) {missing}")
        entity = pa.table(
            {
                ROW: pa.array(range(table.num_rows), pa.int64()),
                ENTITY_TS: _micros(table[self._ts_col]),
                **{k: table[k] for k in keys},
            }
        )
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            for plan in self._plan:
                joined = _join_view(con, plan, _dataset(plan, self.repo_path), entity)
                for name in joined.column_names:
                    if name in table.column_names:
                        table = table.drop_columns([name])
                    table = table.append_column(joined.schema.field(name), joined.column(name))
        finally:
            con.close()
        return table

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool | None = False,
        timeout: int | None = None,
    ) -> None:
        """Write the joined rows where a Feast saved dataset lives (a .parquet file or a folder), as Feast's
        file store does, so `store.create_saved_dataset` works on c360's offline store too."""
        from feast.errors import SavedDatasetLocationAlreadyExists
        from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

        if not isinstance(storage, SavedDatasetFileStorage):
            raise ValueError(f"c360's offline store saves datasets to files, not {type(storage).__name__}")
        uri = storage.file_options.uri
        absolute = FileSource.get_uri_for_file_path(repo_path=self.repo_path, uri=uri)
        filesystem, path = FileSource.create_filesystem_and_path(
            str(absolute), storage.file_options.s3_endpoint_override
        )
        filesystem = filesystem or pafs.LocalFileSystem()  # Feast gives None for a local path
        exists = filesystem.get_file_info(path).type != pafs.FileType.NotFound
        if exists and not allow_overwrite:
            raise SavedDatasetLocationAlreadyExists(location=uri)
        table = self.to_arrow(timeout=timeout)
        if path.endswith(".parquet"):
            pq.write_table(table, path, filesystem=filesystem)
        else:
            pq.write_to_dataset(table, root_path=path, filesystem=filesystem)
