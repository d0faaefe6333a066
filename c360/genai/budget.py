"""The daily token (and optional cost) budget of the content writer.

Before a call the writer reserves an estimate (prompt size plus the most output tokens); after it, the
reservation is settled with the usage the server reported. Past the budget, `reserve` says no and the
writer answers from its template with the flag `budget_exhausted`. The day is the UTC date; a new day
starts from zero. `Budget` counts in memory, for one process (library use without a workspace); a
workspace's writer uses `c360.genai.ledger.SharedBudget`, one budget for all its processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol


def utc_today() -> date:
    return datetime.now(UTC).date()


class TokenBudget(Protocol):
    """What the writer asks of a budget: `Budget` (one process) or `ledger.SharedBudget` (the workspace)."""

    def reserve(self, tokens_in: int, tokens_out: int) -> bool: ...

    def settle(self, reserved: tuple[int, int], used: tuple[int, int]) -> None: ...

    def snapshot(self) -> dict[str, float | int | str]: ...


class BudgetCaps:
    """The caps and prices of a budget, whatever keeps its counters; `refused` counts this process's
    refusals."""

    def __init__(
        self,
        daily_tokens: int,
        daily_cost: float | None = None,
        price_in_per_1k: float = 0.0,
        price_out_per_1k: float = 0.0,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.daily_tokens, self.daily_cost = daily_tokens, daily_cost
        self.price_in, self.price_out = price_in_per_1k / 1000.0, price_out_per_1k / 1000.0
        self._today = today
        self.refused = 0

    def price(self, tokens_in: int, tokens_out: int) -> float:
        """What these tokens cost at the configured prices."""
        return tokens_in * self.price_in + tokens_out * self.price_out


class Budget(BudgetCaps):
    """Counters in memory, for one process."""

    def __init__(
        self,
        daily_tokens: int,
        daily_cost: float | None = None,
        price_in_per_1k: float = 0.0,
        price_out_per_1k: float = 0.0,
        today: Callable[[], date] = utc_today,
    ) -> None:
        super().__init__(daily_tokens, daily_cost, price_in_per_1k, price_out_per_1k, today)
        self._day = today()
        self.tokens = 0
        self.cost = 0.0
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self.tokens, self.cost = day, 0, 0.0

    def reserve(self, tokens_in: int, tokens_out: int) -> bool:
        """Take an estimate out of today's budget; False (and nothing taken) when it does not fit."""
        cost = self.price(tokens_in, tokens_out)
        with self._lock:
            self._roll()
            over_tokens = self.tokens + tokens_in + tokens_out > self.daily_tokens
            over_cost = self.daily_cost is not None and self.cost + cost > self.daily_cost
            if over_tokens or over_cost:
                self.refused += 1
                return False
            self.tokens += tokens_in + tokens_out
            self.cost += cost
            return True

    def settle(self, reserved: tuple[int, int], used: tuple[int, int]) -> None:
        """Replace a reservation by what the call used (a failed call used nothing it was billed for: pass
        its usage as (0, 0))."""
        d_in, d_out = used[0] - reserved[0], used[1] - reserved[1]
        with self._lock:
            self.tokens = max(0, self.tokens + d_in + d_out)
            self.cost = max(0.0, self.cost + self.price(d_in, d_out))

    def snapshot(self) -> dict[str, float | int | str]:
        with self._lock:
            self._roll()
            return {
                "day": self._day.isoformat(),
                "tokens": self.tokens,
                "daily_tokens": self.daily_tokens,
                "cost": round(self.cost, 6),
                "refused": self.refused,
            }
