"""The content writer's spending and pacing, shared by every process of a workspace (`llm.ledger_path`).

The in-memory `Budget` and `Pacer` count per process: N Serve replicas, or a server and a CLI run, would
spend N budgets and send N times the rate. Here both live in one SQLite file (`c360.io.sqlite.connect`:
write-ahead log, autocommit, busy timeout), so the budget and the rate limit are the workspace's:

- `SharedBudget`: the day's tokens and cost in one row per UTC day. A reservation is one conditional
  UPDATE, atomic across processes: it adds the estimate only where the sum stays within the caps, and its
  row count says whether it fitted. A new day is a new row, starting from zero.
- `SharedPacer`: GCRA over one row (`tat`, the theoretical arrival time on the wall clock, and the current
  `rate`). `wait()` takes the next slot with one atomic UPDATE and sleeps until it; the semantics are the
  in-memory `Pacer`'s (`c360.genai.resilience`): a 429 halves the shared rate (at least 1/64 of the
  configured one) and holds every process until its Retry-After, each success wins back 1% of the rate.

The ledger holds counters and clocks only, never a customer id or any text: an erasure has nothing to do
here. Like the content cache, it is shared by the processes of one host: SQLite's write-ahead log needs
shared memory, so the file must not sit on a network file system, and processes on several hosts keep a
budget and a pace per host. A ledger that cannot be read or written (a lock held past the busy timeout,
a full disk) makes the budget say no and the pacer fail the call: the templates answer, nothing is spent
unaccounted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from c360.genai.budget import BudgetCaps, utc_today
from c360.genai.resilience import BackendError, DeadlineExceeded
from c360.io.sqlite import connect

log = logging.getLogger("c360.genai")

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_day (
  day TEXT PRIMARY KEY,
  tokens INTEGER NOT NULL DEFAULT 0,
  cost REAL NOT NULL DEFAULT 0,
  refused INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pacing (
  name TEXT PRIMARY KEY,
  tat REAL NOT NULL,
  rate REAL NOT NULL,
  hold_until REAL NOT NULL DEFAULT 0
);
"""
HORIZON_SECONDS = 600.0
"""No call waits longer than a request's deadline (600 s at most): a `tat` further ahead than this is a
wall clock that was set back, and is pulled in rather than holding every call."""
RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""UPDATE ... RETURNING (SQLite 3.35+) takes a pacing slot in one statement; older libraries use an
immediate transaction around SELECT and UPDATE."""


def open_ledger(path: str | Path) -> sqlite3.Connection:
    """The ledger file (created with its tables when missing)."""
    return connect(path, SCHEMA)


class SharedBudget(BudgetCaps):
    """`Budget`'s interface over the ledger: reserve / settle / snapshot, `refused` (this process's
    refusals; `snapshot()` counts the whole workspace's)."""

    def __init__(
        self,
        path: str | Path,
        daily_tokens: int,
        daily_cost: float | None = None,
        price_in_per_1k: float = 0.0,
        price_out_per_1k: float = 0.0,
        today: Callable[[], date] = utc_today,
    ) -> None:
        super().__init__(daily_tokens, daily_cost, price_in_per_1k, price_out_per_1k, today)
        self._conn = open_ledger(path)
        self._lock = threading.Lock()

    def _day(self, create: bool = True) -> str:
        day = self._today().isoformat()
        if create:
            self._conn.execute("INSERT INTO budget_day (day) VALUES (?) ON CONFLICT (day) DO NOTHING", (day,))
        return day

    def reserve(self, tokens_in: int, tokens_out: int) -> bool:
        """Take an estimate out of today's budget; False (and nothing taken) when it does not fit. One
        conditional UPDATE decides, atomically across processes; the day's row is created when the first
        try finds none to update."""
        args: dict[str, object] = {
            "tokens": tokens_in + tokens_out,
            "cost": self.price(tokens_in, tokens_out),
            "cap": self.daily_tokens,
            "cost_cap": self.daily_cost,
        }
        take = (
            "UPDATE budget_day SET tokens = tokens + :tokens, cost = cost + :cost "
            "WHERE day = :day AND tokens + :tokens <= :cap "
            "AND (:cost_cap IS NULL OR cost + :cost <= :cost_cap)"
        )
        with self._lock:
            try:
                day = args["day"] = self._day(create=False)
                if self._conn.execute(take, args).rowcount == 1:
                    return True
                self._day()
                if self._conn.execute(take, args).rowcount == 1:
                    return True
                self._conn.execute("UPDATE budget_day SET refused = refused + 1 WHERE day = ?", (day,))
            except sqlite3.Error as exc:
                log.warning("genai ledger unavailable (%s): the budget says no", type(exc).__name__)
            self.refused += 1
            return False

    def settle(self, reserved: tuple[int, int], used: tuple[int, int]) -> None:
        """Replace a reservation by what the call used (a failed call: `used` (0, 0)). The difference goes
        to the current day: a call that straddles midnight settles against the new one, never below zero."""
        d_in, d_out = used[0] - reserved[0], used[1] - reserved[1]
        if d_in == 0 and d_out == 0:
            return
        with self._lock:
            try:
                day = self._day()
                self._conn.execute(
                    "UPDATE budget_day SET tokens = max(0, tokens + ?), cost = max(0.0, cost + ?) "
                    "WHERE day = ?",
                    (d_in + d_out, self.price(d_in, d_out), day),
                )
            except sqlite3.Error as exc:  # the estimate stays counted: the budget errs on the safe side
                log.warning(
                    "genai ledger unavailable (%s): a call's usage was not settled", type(exc).__name__
                )

    def snapshot(self) -> dict[str, float | int | str]:
        with self._lock:
            day = self._day()
            tokens, cost, refused = self._conn.execute(
                "SELECT tokens, cost, refused FROM budget_day WHERE day = ?", (day,)
            ).fetchone()
        return {
            "day": day,
            "tokens": int(tokens),
            "daily_tokens": self.daily_tokens,
            "cost": round(float(cost), 6),
            "refused": int(refused),
        }

    @property
    def tokens(self) -> int:
        """Today's tokens, reserved and spent, across the workspace."""
        return int(self.snapshot()["tokens"])

    def close(self) -> None:
        self._conn.close()


class SharedPacer:
    """`Pacer`'s interface over the ledger: at most `rate` calls a second across the workspace's
    processes, with a burst of `burst` calls after a quiet spell. `name` keys the row (one per backend)."""

    def __init__(self, path: str | Path, rate: float, burst: float = 1.0, name: str = "default") -> None:
        self.max_rate = float(rate)
        self.burst = max(1.0, float(burst))
        self.name = name
        self._conn = open_ledger(path)
        self._lock = threading.Lock()
        self._known_rate = self.max_rate
        """The shared rate as last read: a success at full rate writes nothing."""
        self._conn.execute(
            "INSERT INTO pacing (name, tat, rate) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING",
            (name, self.max_rate),
        )

    @property
    def rate(self) -> float:
        """The shared rate now (this process's configured rate at most)."""
        (rate,) = self._conn.execute("SELECT rate FROM pacing WHERE name = ?", (self.name,)).fetchone()
        return min(float(rate), self.max_rate)

    def _take_slot(self, now: float) -> float:
        """The wall-clock time this call may go. The slot is `max(tat, now -
        span)` with a span of `burst - 1` intervals (the saved-up burst); `tat` moves one interval on."""
        args: dict[str, object] = {
            "name": self.name,
            "now": now,
            "horizon": now + HORIZON_SECONDS,
            "burst": self.burst,
            "max": self.max_rate,
        }
        rate_now = "min(rate, :max)"
        update = (
            f"UPDATE pacing SET tat = max(min(tat, :horizon), :now - (:burst - 1) / {rate_now}) "
            f"+ 1.0 / {rate_now} WHERE name = :name"
        )
        with self._lock:
            if RETURNING:
                tat, rate = self._conn.execute(f"{update} RETURNING tat, {rate_now}", args).fetchone()
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(update, args)
                    tat, rate = self._conn.execute(
                        f"SELECT tat, {rate_now} FROM pacing WHERE name = :name", args
                    ).fetchone()
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            self._known_rate = float(rate)
        return float(tat) - 1.0 / float(rate)

    def wait(self, deadline: float | None = None) -> None:
        """Block until this call's slot. `deadline` (a time.monotonic() instant): a slot past it raises
        DeadlineExceeded at once (the slot stays taken: the workspace's rate only errs low). A ledger that
        cannot be read raises BackendError: an unpaced call could break the backend's rate limit."""
        try:
            while True:
                now = time.time()
                slot = self._take_slot(now)
                pause = slot - now
                if pause <= 0:
                    return
                if deadline is not None and time.monotonic() + pause > deadline:
                    raise DeadlineExceeded(
                        "no call to the model's endpoint fits before the request's deadline"
                    )
                time.sleep(pause)
                (hold,) = self._conn.execute(
                    "SELECT hold_until FROM pacing WHERE name = ?", (self.name,)
                ).fetchone()
                if float(hold) <= time.time():
                    return
                # a 429 arrived while this call waited: none before its Retry-After, take a later slot
        except sqlite3.Error as exc:
            log.warning("genai ledger unavailable (%s): no call without pacing", type(exc).__name__)
            raise BackendError("the pacing ledger is unavailable") from None

    def rate_limited(self, retry_after: float | None) -> None:
        """The backend answered 429: half the shared rate (at least 1/64 of the configured one), no
        saved-up burst, and no call from any process before its Retry-After has passed."""
        now = time.time()
        until = now + (retry_after or 0.0)
        self._write(
            "UPDATE pacing SET rate = max(:floor, min(rate, :max) / 2), tat = max(tat, :until), "
            "hold_until = max(hold_until, :until) WHERE name = :name",
            {"floor": self.max_rate / 64, "max": self.max_rate, "until": until, "name": self.name},
        )

    def succeeded(self) -> None:
        """Win back 1% of the configured rate (nothing to write while the rate is full)."""
        if self._known_rate >= self.max_rate:
            return
        self._write(
            "UPDATE pacing SET rate = min(:max, rate + :step) WHERE name = :name",
            {"max": self.max_rate, "step": self.max_rate / 100, "name": self.name},
        )

    def _write(self, sql: str, args: dict[str, object]) -> None:
        """A change of the shared rate; the next slot reads it back. Lost when the ledger is unavailable
        (logged): the next call's `wait` fails then anyway."""
        with self._lock:
            try:
                self._conn.execute(sql, args)
            except sqlite3.Error as exc:
                log.warning("genai ledger unavailable (%s): the pace was not adjusted", type(exc).__name__)
            self._known_rate = 0.0

    def close(self) -> None:
        self._conn.close()
