"""Erased people kept out of the identity graph, whatever the lake still holds of them.

Ingest drops a suppressed person's new rows, and an erasure removes the old ones; but an erasure killed
midway leaves standardized rows behind, and a resolve run then would take them back into the graph and give
the person a customer id again. So a run drops every standardized identity row whose source record is on the
suppression list, and every record whose last customer id is (an erasure by customer id), before anything is
linked. Identifiers are not matched here: another person can share one (a household phone) and keeps their
records; ingest holds back new deliveries that carry one. When the list has changed since the last run, the
run is a full one, so records already in the graph leave it too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.incremental import member
from c360.io.lake import Lake
from c360.privacy.suppression import CUSTOMER, SUPPRESSION_DIR, IngestSuppression


@dataclass
class Suppressed:
    check: IngestSuppression
    mark: str | None
    """A digest of the list's files (None without any): recorded in the state, a change forces a full run."""

    @classmethod
    def load(cls, lake: Lake) -> Suppressed:
        names = sorted(f.rsplit("/", 1)[-1] for f in lake.glob("/".join(SUPPRESSION_DIR) + "/*.parquet"))
        mark = hashlib.blake2b("\n".join(names).encode(), digest_size=8).hexdigest() if names else None
        return cls(IngestSuppression.load(lake), mark)

    def customers(self, customer_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Per customer id, whether it is on the list."""
        return self.check.lst.mask(CUSTOMER, customer_ids)

    def drop(self, table: pa.Table, id_map: pa.Table | None = None) -> pa.Table:
        """Standardized identity rows without those of suppressed people (`id_map`: last run's, to find
        the records of a suppressed customer id)."""
        if not self.check or table.num_rows == 0:
            return table
        gone = self.check.record_drop_mask(table)
        if id_map is not None and id_map.num_rows:
            erased = id_map.filter(pa.array(self.customers(id_map.column("customer_id"))))
            if erased.num_rows:
                keys = pc.binary_join_element_wise(
                    table.column("source").cast(pa.string()),
                    table.column("source_record_id").cast(pa.string()),
                    ":",
                )
                gone |= member(pa.table({"k": keys}), "k", erased.column("record_key").combine_chunks())
        return table.filter(pa.array(~gone)) if gone.any() else table
