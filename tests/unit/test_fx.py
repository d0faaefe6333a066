"""One reporting currency: FX rates read like any mapped source, applied at a row's UTC date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from c360.bench.ingest_baseline import ingest_baseline
from c360.errors import ConfigError
from c360.facts.fx import FxConverter, reporting_currency_for
from c360.schemas import standardized_schema
from c360.settings import Settings
from c360.sources.layout import read_quarantine, read_standardized
from c360.workspace import Workspace

pytestmark = pytest.mark.unit

FRI, SAT, SUN, MON = date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 7), date(2024, 1, 8)


def rates(*rows: tuple[date, str, str, float], ingested: list[datetime] | None = None) -> pa.Table:
    stamps = ingested or [datetime(2024, 2, 1, tzinfo=UTC)] * len(rows)
    return pa.table(
        {
            "date": pa.array([r[0] for r in rows], pa.date32()),
            "base": [r[1] for r in rows],
            "currency": [r[2] for r in rows],
            "rate": pa.array([r[3] for r in rows], pa.float64()),
            "_ingested_at": pa.array(stamps, pa.timestamp("us", "UTC")),
        }
    )


def at(*moments: datetime | date | None) -> pa.Array:
    """Timestamps; a date stands for noon UTC of that day."""
    values = [datetime(m.year, m.month, m.day, 12, tzinfo=UTC) if type(m) is date else m for m in moments]
    return pa.array(values, pa.timestamp("us", "UTC"))


def convert(conv: FxConverter, currencies: list[str | None], moments: list) -> list[float | None]:
    out = conv.rates(pa.array(currencies, pa.string()), at(*moments)).to_pylist()
    return [None if v is None else round(v, 10) for v in out]


ECB = rates(
    (date(2024, 1, 4), "EUR", "USD", 1.0900),
    (date(2024, 1, 4), "EUR", "GBP", 0.8600),
    (FRI, "EUR", "USD", 1.1000),
    (FRI, "EUR", "GBP", 0.8800),
    (MON, "EUR", "USD", 1.0800),
    (MON, "EUR", "GBP", 0.8500),
)


def test_a_rate_applies_at_the_transactions_own_date():
    conv = FxConverter.from_rates(ECB, "USD", max_age_days=7)
    got = convert(conv, ["EUR", "EUR", "GBP", "GBP"], [date(2024, 1, 4), FRI, date(2024, 1, 4), MON])
    # USD per EUR is the EUR->USD rate; USD per GBP crosses through EUR: (USD per EUR) / (GBP per EUR)
    assert got == [1.09, 1.1, round(1.09 / 0.86, 10), round(1.08 / 0.85, 10)]
    assert conv.rates(pa.array([], pa.string()), at()).to_pylist() == []


def test_the_utc_date_decides_not_the_local_one():
    conv = FxConverter.from_rates(ECB, "USD")
    new_york = timezone(timedelta(hours=-5))
    late_thursday_in_ny = datetime(2024, 1, 4, 20, 30, tzinfo=new_york)  # Friday 01:30 UTC
    just_before_midnight = datetime(2024, 1, 4, 23, 59, 59, tzinfo=UTC)
    got = convert(conv, ["EUR", "EUR"], [late_thursday_in_ny, just_before_midnight])
    assert got == [1.1, 1.09]


def test_weekend_uses_fridays_rate_within_the_allowed_age():
    conv = FxConverter.from_rates(ECB, "USD", max_age_days=7)
    assert convert(conv, ["EUR", "EUR", "GBP"], [SAT, SUN, SUN]) == [1.1, 1.1, round(1.1 / 0.88, 10)]
    strict = FxConverter.from_rates(ECB, "USD", max_age_days=1)
    assert convert(strict, ["EUR", "EUR", "EUR"], [SAT, SUN, MON]) == [1.1, None, 1.08]


def test_a_rate_older_than_the_allowed_age_is_no_rate():
    conv = FxConverter.from_rates(ECB, "USD", max_age_days=7)
    seven, eight = MON + timedelta(days=7), MON + timedelta(days=8)
    before_any = date(2024, 1, 3)
    got = convert(
        conv, ["EUR", "EUR", "GBP", "EUR", "EUR", None], [seven, eight, eight, before_any, None, MON]
    )
    assert got == [1.08, None, None, None, None, None]


def test_cross_rates_through_any_base_on_the_same_date():
    table = rates(
        (FRI, "EUR", "USD", 1.10),  # an ECB row
        (FRI, "USD", "JPY", 150.0),  # another provider's row with base USD
        (FRI, "JPY", "KRW", 9.0),  # two steps from the reporting currency
        (FRI, "CHF", "EUR", 1.05),  # reporting currency reached through the other side of a row
        (MON, "GBP", "CHF", 1.10),  # no route to USD on Monday: no rate, not a guess
    )
    conv = FxConverter.from_rates(table, "USD")
    got = convert(conv, ["JPY", "KRW", "CHF", "EUR", "GBP", "CHF"], [FRI, FRI, FRI, FRI, MON, MON])
    assert got == [
        round(1 / 150, 10),
        round(1 / 1350, 10),
        round(1.05 * 1.10, 10),  # 1 CHF = 1.05 EUR = 1.05 x 1.10 USD
        1.1,
        None,
        round(1.05 * 1.10, 10),  # Monday's CHF: Friday's value, the newest within the age
    ]
    eur = FxConverter.from_rates(table, "EUR")
    assert convert(eur, ["USD", "JPY", "EUR"], [FRI, FRI, FRI]) == [
        round(1 / 1.1, 10),
        round(1 / 1.1 / 150, 10),
        1.0,
    ]


def test_a_corrected_rate_delivered_later_wins():
    first, later = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 2, tzinfo=UTC)
    table = rates((FRI, "EUR", "USD", 1.5), (FRI, "EUR", "USD", 1.1), ingested=[later, first])
    assert convert(FxConverter.from_rates(table, "USD"), ["EUR"], [FRI]) == [1.5]


def test_the_reporting_currency_converts_at_one_without_any_rate():
    conv = FxConverter.from_rates(standardized_schema("fx_rate").empty_table(), "GBP")
    assert convert(conv, ["GBP", "GBP", "USD", None], [FRI, None, FRI, FRI]) == [1.0, 1.0, None, None]
    assert conv.currencies == []


def test_reporting_currency_unset_is_the_datas_only_one_or_a_named_error(tmp_path):
    assert reporting_currency_for("EUR", ["USD", "GBP"]) == "EUR"
    assert reporting_currency_for(None, ["gbp", "GBP", None, ""]) == "GBP"
    ws = Workspace.from_settings(Settings(), tmp_path)
    conv = FxConverter.load(ws, ["EUR", "EUR"])
    assert conv.reporting == "EUR"
    assert convert(conv, ["EUR"], [FRI]) == [1.0]
    with pytest.raises(ConfigError) as err:
        FxConverter.load(ws, ["USD", "EUR", "GBP", None])
    message = err.value.message
    assert "EUR, GBP, USD" in message and "reporting_currency" in message and "fx_rate" in message


def test_fingerprint_follows_rates_reporting_currency_and_age():
    base = FxConverter.from_rates(ECB, "USD").fingerprint()
    assert FxConverter.from_rates(ECB, "USD").fingerprint() == base
    reordered = ECB.take(pa.array(list(range(ECB.num_rows))[::-1]))
    assert FxConverter.from_rates(reordered, "USD").fingerprint() == base
    changed = ECB.set_column(3, "rate", pa.array([1.09, 0.86, 1.1, 0.8801, 1.08, 0.85]))
    assert FxConverter.from_rates(changed, "USD").fingerprint() != base
    assert FxConverter.from_rates(ECB, "EUR").fingerprint() != base
    assert FxConverter.from_rates(ECB, "USD", max_age_days=3).fingerprint() != base


def test_many_rows_at_once_match_the_row_by_row_answer():
    """The vectorised lookup against a plain per-row scan over a year of weekday rates."""
    import numpy as np

    rng = np.random.default_rng(5)
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    fixing = [d for d in days if d.weekday() < 5 and rng.random() > 0.1]
    rows = [(d, "EUR", c, float(rng.uniform(0.5, 2))) for d in fixing for c in ("USD", "GBP", "JPY")]
    conv = FxConverter.from_rates(rates(*rows), "USD", max_age_days=4)
    value = {(d, c): r for d, _, c, r in rows}
    n = 3000
    cur = rng.choice(["USD", "EUR", "GBP", "JPY", "CHF"], n).tolist()
    start = datetime(2023, 12, 20, tzinfo=UTC)
    when = [start + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 390, n)]
    got = conv.rates(pa.array(cur), at(*when)).to_pylist()
    for c, t, g in zip(cur, when, got, strict=True):
        if c == "USD":
            assert g == 1.0
            continue
        day = t.date()
        found = next((d for d in (day - timedelta(days=k) for k in range(5)) if (d, "USD") in value), None)
        if found is None or c == "CHF":
            assert g is None, (c, t)
            continue
        usd = value[found, "USD"]
        expected = usd if c == "EUR" else usd / value[found, c]
        assert g == pytest.approx(expected, rel=1e-12), (c, t)


# ------------------------------------------------------------------------------------------------ ingest

FX_SOURCE = {
    "kind": "reference",
    "files": {
        "rates": {
            "path": "raw/fx/rates/*.csv",
            "format": "csv",
            "record": "fx_rate",
            "mapping": {"date": "date", "base": "base", "currency": "currency", "rate": "rate"},
        }
    },
}
RATES_CSV = """date,base,currency,rate
2024-01-05,EUR,USD,1.1000
2024-01-05,EUR,GBP,0.88000
2024-01-05,EUR,USX,1.2
2024-01-08,EUR,USD,-1.08
2024-01-08,EUR,GBP,0.85000
2024-01-08,EURO,USD,1.08
2024-01-09,EUR,USD,1.0700
2024-01-09,EUR,GBP,zero
"""


def test_ingest_quarantines_exactly_the_bad_rate_rows_and_the_rest_converts(tmp_path):
    settings = Settings.model_validate({"lake": {"uri": "lake"}, "sources": {"fx": FX_SOURCE}})
    settings.reporting_currency = "USD"
    ws = Workspace.from_settings(settings, tmp_path)
    ws.lake.write_text(ws.lake.path("raw/fx/rates/part-00000.csv"), RATES_CSV)
    report = ingest_baseline(ws)
    rep = report.file_set("fx", "rates")
    assert (rep.rows_read, rep.rows_accepted, rep.rows_quarantined) == (8, 4, 4)
    q = sorted((r["row"], r["field"], r["reason"]) for r in read_quarantine(ws.lake).to_pylist())
    assert q == [
        (3, "currency", "invalid_currency"),
        (4, "rate", "invalid_rate"),
        (6, "base", "invalid_currency"),
        (8, "rate", "invalid_rate"),
    ]
    std = read_standardized(ws.lake, "fx_rate")
    assert sorted(std.column("_row").to_pylist()) == [1, 2, 5, 7]
    conv = FxConverter.load(ws, ["USD", "EUR", "GBP"])
    got = convert(
        conv, ["EUR", "EUR", "GBP", "GBP", "EUR"], [FRI, MON, MON, date(2024, 1, 9), date(2024, 1, 9)]
    )
    # Monday's USD row was refused: EUR uses Friday's; Monday's GBP has no USD row that day to cross with
    assert got == [1.1, 1.1, round(1.1 / 0.88, 10), round(1.1 / 0.88, 10), 1.07]
