"""Small raw files for ingest tests, written with the bad rows they contain (the expected quarantine).

Every file is built row by row so the test knows, for each injected problem, the file, the 1-based data row,
the canonical field, the reason and the action; and exactly how many rows must reach standardized/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.settings import Settings

SOURCES: dict[str, Any] = {
    "crm": {
        "kind": "crm",
        "files": {
            "customers": {
                "path": "raw/crm/customers/*.csv",
                "format": "csv",
                "record": "identity",
                "id_column": "customer_id",
                "default_region": "GB",
                "timezone": "Europe/London",
                "date_format": "%d/%m/%Y",
                "mapping": {
                    "email": "Email",
                    "phone": "Phone",
                    "first_name": "First Name",
                    "last_name": "Last Name",
                    "birth_date": "DOB",
                    "country": "Country",
                    "observed_at": "Updated",
                },
            }
        },
    },
    "shop": {
        "kind": "ecommerce",
        "files": {
            "orders": {
                "path": "raw/shop/orders/*.csv",
                "format": "csv",
                "record": "transaction",
                "csv": {"delimiter": ";"},
                "mapping": {
                    "order_id": "order",
                    "customer_ref": "customer",
                    "ts": "placed_at",
                    "product_id": "sku",
                    "quantity": "qty",
                    "unit_price": "price",
                    "kind": "type",
                },
                "constants": {"channel": "web"},
                "value_maps": {"kind": {"P": "purchase", "R": "return"}},
                "default_currency": "EUR",
            }
        },
    },
    "web": {
        "kind": "web",
        "files": {
            "events": {
                "path": "raw/web/events/*.jsonl",
                "format": "jsonl",
                "record": "interaction",
                "mapping": {"customer_ref": "uid", "ts": "time", "type": "event", "attributes": "props"},
                "value_maps": {"type": {"pageview": "web_visit"}},
            }
        },
    },
    "marketing": {
        "kind": "marketing",
        "files": {
            "consents": {
                "path": "raw/marketing/consents/*.parquet",
                "format": "parquet",
                "record": "consent",
                "mapping": {
                    "customer_ref": "contact",
                    "ts": "at",
                    "purpose": "purpose",
                    "channel": "channel",
                    "granted": "opt_in",
                },
            }
        },
    },
}


def settings_for(lake_uri: str, storage_options: dict[str, str] | None = None) -> Settings:
    return Settings.model_validate(
        {"lake": {"uri": lake_uri, "storage_options": storage_options or {}}, "sources": SOURCES}
    )


@dataclass(frozen=True)
class Expected:
    file: str
    row: int
    field: str | None
    reason: str
    action: str = "row_rejected"


@dataclass
class Written:
    """What the fixture wrote: rows per (source, file set) and the quarantine entries it must produce."""

    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    rejected: dict[tuple[str, str], int] = field(default_factory=dict)
    expected: list[Expected] = field(default_factory=list)

    def add(self, key: tuple[str, str], rows: int, problems: list[Expected]) -> None:
        self.rows[key] = self.rows.get(key, 0) + rows
        bad_rows = {(p.file, p.row) for p in problems if p.action == "row_rejected"}
        self.rejected[key] = self.rejected.get(key, 0) + len(bad_rows)
        self.expected.extend(problems)

    def accepted(self, key: tuple[str, str]) -> int:
        return self.rows[key] - self.rejected[key]


def _csv_line(values: list[str], delimiter: str) -> str:
    return delimiter.join(f'"{v}"' if delimiter in v or "\n" in v else v for v in values)


def write_customers(lake: Lake, written: Written, part: int, n: int) -> str:
    rel = f"raw/crm/customers/part-{part:04d}.csv"
    header = ["customer_id", "Email", "Phone", "First Name", "Last Name", "DOB", "Country", "Updated"]
    lines = [",".join(header)]
    problems: list[Expected] = []
    for i in range(1, n + 1):
        cid = f"C{part}-{i:05d}"
        email = f" Person.{part}.{i}@Example.COM "
        phone = ["020 7946 0958", "+44 20 7946 0958", "0044 20 7946 0958", "(0)20 7946 0958"][i % 4]
        first, last = ["  José ", "Zoë", "Anne  Marie", "Ólafur"][i % 4], "O'Brien"
        dob, updated = f"{(i % 28) + 1:02d}/0{(i % 9) + 1}/1985", f"2024-03-{(i % 28) + 1:02d} 10:15:00"
        line = [cid, email, phone, first, last, dob, "gb", updated]
        if i % 10 == 3:
            line[1] = "not-an-email"
            problems.append(Expected(rel, i, "email", "invalid_email", "field_nulled"))
        if i % 10 == 4:
            line[2] = "0000000000"
            problems.append(Expected(rel, i, "phone", "invalid_phone", "field_nulled"))
        if i % 10 == 5:
            line[5] = "31/02/1985"
            # identity records are kept with the unreadable field nulled (their identifiers still count)
            problems.append(Expected(rel, i, "birth_date", "invalid_date", "field_nulled"))
        if i % 10 == 6:
            line[7] = "yesterday"
            problems.append(Expected(rel, i, "observed_at", "invalid_timestamp", "field_nulled"))
        if i % 25 == 7:
            line = line[:4]
            problems.append(Expected(rel, i, None, "malformed_row"))
        lines.append(_csv_line(line, ","))
    lake.write_text(lake.path(rel), "\n".join(lines) + "\n")
    written.add(("crm", "customers"), n, problems)
    return rel


def write_orders(lake: Lake, written: Written, part: int, n: int) -> str:
    rel = f"raw/shop/orders/part-{part:04d}.csv"
    lines = ["order;customer;placed_at;sku;qty;price;type"]
    problems: list[Expected] = []
    for i in range(1, n + 1):
        line = [
            f"O{part}-{i}",
            f"C{part}-{i % 50}",
            f"2024-05-0{(i % 9) + 1}T12:00:00+02:00",
            f"SKU{i % 30}",
            str((i % 4) + 1),
            f"{(i % 17) + 0.99:.2f}",
            "P" if i % 6 else "R",
        ]
        if i % 12 == 1:
            line[0] = ""
            problems.append(Expected(rel, i, "order_id", "missing_required"))
        if i % 12 == 2:
            line[4] = "two"
            problems.append(Expected(rel, i, "quantity", "invalid_number"))
        if i % 12 == 3:
            line[6] = "refund"
            problems.append(Expected(rel, i, "kind", "invalid_enum"))
        if i % 12 == 4:
            line[2] = "2024-13-45T99:00:00"
            problems.append(Expected(rel, i, "ts", "invalid_timestamp"))
        if i % 12 == 5:
            line[5] = "1,234.50 €"  # messy but valid money
        lines.append(_csv_line(line, ";"))
    lake.write_text(lake.path(rel), "\n".join(lines) + "\n")
    written.add(("shop", "orders"), n, problems)
    return rel


def write_events(lake: Lake, written: Written, part: int, n: int, truncate_at: int | None = None) -> str:
    rel = f"raw/web/events/part-{part:04d}.jsonl"
    lines: list[str] = []
    problems: list[Expected] = []
    for i in range(1, n + 1):
        obj: dict[str, Any] = {
            "uid": f"C{part}-{i % 40}",
            "time": 1714564800 + i * 60,
            "event": "pageview",
            "props": {"path": f"/p/{i % 7}", "ms": i},
        }
        if i % 9 == 2:
            obj["time"] = f"2024-05-01T10:{i % 60:02d}:00Z"
        if i % 9 == 4:
            obj["event"] = "teleport"
            problems.append(Expected(rel, i, "type", "invalid_enum"))
        if i % 9 == 5:
            del obj["uid"]
            problems.append(Expected(rel, i, "customer_ref", "missing_required"))
        text = json.dumps(obj)
        if truncate_at == i:
            text = text[: len(text) // 2]
            problems = [p for p in problems if p.row != i] + [Expected(rel, i, None, "malformed_row")]
        lines.append(text)
    lake.write_text(lake.path(rel), "\n".join(lines) + "\n")
    written.add(("web", "events"), n, problems)
    return rel


def write_consents(lake: Lake, written: Written, part: int, n: int) -> str:
    rel = f"raw/marketing/consents/part-{part:04d}.parquet"
    problems: list[Expected] = []
    cols: dict[str, list[Any]] = {"contact": [], "at": [], "purpose": [], "channel": [], "opt_in": []}
    for i in range(1, n + 1):
        cols["contact"].append(f"C{part}-{i}")
        cols["at"].append(f"2024-04-{(i % 28) + 1:02d}T08:00:00")
        cols["purpose"].append(["marketing", "Analytics", "personalization", "third party"][i % 4])
        cols["channel"].append(["email", "SMS", "push", "ads", "web"][i % 5])
        cols["opt_in"].append(["yes", "no", "Y", "0", "true"][i % 5])
        if i % 8 == 3:
            cols["opt_in"][-1] = "perhaps"
            problems.append(Expected(rel, i, "granted", "invalid_bool"))
    pq.write_table(pa.table(cols), lake.path(rel), filesystem=lake.arrow_fs)
    written.add(("marketing", "consents"), n, problems)
    return rel


def write_all(lake: Lake, parts: int = 2, n: int = 120) -> Written:
    written = Written()
    if lake.is_local:
        for d in ("raw/crm/customers", "raw/shop/orders", "raw/web/events", "raw/marketing/consents"):
            lake.makedirs(d)
    for part in range(parts):
        write_customers(lake, written, part, n)
        write_orders(lake, written, part, n)
        write_events(lake, written, part, n, truncate_at=17 if part == 0 else None)
        write_consents(lake, written, part, n)
    return written
