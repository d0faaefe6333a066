"""The decision log (`<lake>/decisions/`): every decision served, and the rewards joined to it by id.

One JSON line per decision in `decisions/<YYYY-MM-DD>.jsonl` (UTC day of the decision): decision_id, ts,
customer_id, the context features, the eligible action ids in the order the bandit saw them, the chosen
index and id, its probability, the whole pmf and the uniform draw that picked it, the model version and the
reason (`bandit`, or `no_eligible_action` for the forced no-action fallback). That is enough to replay any
decision (`NextBestAction.replay`) and to evaluate another policy off-line (`c360.nba.ope`).

Rewards go to `decisions/rewards/<YYYY-MM-DD>.jsonl` with a sequence number; the bandit's checkpoint
records how many it has learned, so a restart relearns exactly the rewards after it. A reward is refused
with a named error, never silently learned, when its decision is unknown, already rewarded, or the reward
comes later than the attribution window after the decision (or before the decision).

Files are append-only; `erase(customer_ids)` is the one rewrite: each file holding an erased customer is
rewritten without their decisions (temp file + atomic rename), the others are left untouched. Their rewards
become anonymous tombstones (no decision id, no customer id, no outcome) that keep the sequence number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from c360.errors import NotFoundError, ValidationError


class UnknownDecisionError(NotFoundError):
    """A reward names a decision the log does not hold (never made, erased, or older than the log kept)."""


class DuplicateRewardError(ValidationError):
    """A reward for a decision that was already rewarded: the first reward stands."""

    status_code = 409


class RewardWindowError(ValidationError):
    """A reward later than the attribution window after its decision, or earlier than the decision."""


class ReplayMismatchError(ValidationError):
    """Replaying a logged decision does not give the logged action or probabilities."""


@dataclass(frozen=True)
class Decision:
    decision_id: str
    ts: str  # ISO 8601, UTC
    customer_id: str
    context: dict[str, Any]
    actions: list[str]  # eligible action ids, in the order the bandit scored them
    action_index: int
    action_id: str
    probability: float
    pmf: list[float]
    draw: float
    model_version: str
    reason: str = "bandit"


@dataclass(frozen=True)
class Reward:
    seq: int
    decision_id: str
    customer_id: str
    ts: str
    click: bool
    conversion: bool
    revenue: float
    reward: float


@dataclass
class _Entry:
    ts: datetime
    customer_id: str
    record: Decision
    rewarded: bool = False


def _parse_ts(ts: str | datetime) -> datetime:
    t = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass
class DecisionLog:
    """Append-only decision and reward files under `root` (normally `<lake>/decisions`)."""

    root: Path
    attribution_days: float = 7.0
    now: datetime | None = None  # "now" when opening: decisions older than the window are not indexed
    _index: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)
    _handles: dict[Path, IO[str]] = field(default_factory=dict, init=False, repr=False)
    _next_seq: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.window = timedelta(days=self.attribution_days)
        now = _parse_ts(self.now or datetime.now(UTC))
        oldest_day = (now - self.window - timedelta(days=1)).date().isoformat()
        for path in self._files(self.root):
            if path.stem >= oldest_day:
                for d in _read_decisions(path):
                    self._index[d.decision_id] = _Entry(_parse_ts(d.ts), d.customer_id, d)
        for r in self.rewards():
            self._next_seq = max(self._next_seq, r.seq + 1)
            entry = self._index.get(r.decision_id)
            if entry is not None:
                entry.rewarded = True

    @staticmethod
    def _files(folder: Path) -> list[Path]:
        return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []

    def _append(self, path: Path, record: Mapping[str, Any]) -> None:
        handle = self._handles.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._handles[path] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        handle.flush()

    def append(self, decision: Decision) -> None:
        ts = _parse_ts(decision.ts)
        if decision.decision_id in self._index:
            raise ValidationError(f"decision {decision.decision_id} is already logged")
        self._append(self.root / f"{ts.date().isoformat()}.jsonl", vars(decision))
        self._index[decision.decision_id] = _Entry(ts, decision.customer_id, decision)

    def get(self, decision_id: str) -> Decision:
        entry = self._index.get(decision_id)
        if entry is None:
            raise UnknownDecisionError(f"unknown decision {decision_id!r}")
        return entry.record

    def check_reward(self, decision_id: str, ts: str | datetime) -> Decision:
        """The decision a reward at `ts` may be credited to, or the named error why not."""
        entry = self._index.get(decision_id)
        if entry is None:
            raise UnknownDecisionError(f"unknown decision {decision_id!r} (never logged, erased or expired)")
        if entry.rewarded:
            raise DuplicateRewardError(f"decision {decision_id!r} was already rewarded")
        at = _parse_ts(ts)
        if at < entry.ts:
            raise RewardWindowError(f"reward for {decision_id!r} is dated before its decision")
        if at - entry.ts > self.window:
            raise RewardWindowError(
                f"reward for {decision_id!r} came {(at - entry.ts).total_seconds() / 86400:.1f} days after "
                f"the decision; the attribution window is {self.attribution_days:g} days"
            )
        return entry.record

    def add_reward(
        self,
        decision_id: str,
        ts: str | datetime,
        click: bool,
        conversion: bool,
        revenue: float,
        reward: float,
    ) -> tuple[Decision, Reward]:
        decision = self.check_reward(decision_id, ts)
        at = _parse_ts(ts)
        record = Reward(
            self._next_seq,
            decision_id,
            decision.customer_id,
            at.isoformat(),
            bool(click),
            bool(conversion),
            float(revenue),
            float(reward),
        )
        self._append(self.root / "rewards" / f"{at.date().isoformat()}.jsonl", vars(record))
        self._next_seq += 1
        self._index[decision_id].rewarded = True
        return decision, record

    def decisions(self) -> Iterator[Decision]:
        self.flush()
        for path in self._files(self.root):
            yield from _read_decisions(path)

    def rewards(self) -> list[Reward]:
        self.flush()
        out = [Reward(**json.loads(line)) for p in self._files(self.root / "rewards") for line in _lines(p)]
        return sorted(out, key=lambda r: r.seq)

    def joined(self) -> list[tuple[Decision, Reward | None]]:
        """Every logged decision with its reward (None: no reward arrived)."""
        by_id = {r.decision_id: r for r in self.rewards()}
        return [(d, by_id.get(d.decision_id)) for d in self.decisions()]

    def erase(self, customer_ids: Iterable[str]) -> tuple[int, int]:
        """Remove every decision and reward of these customers; returns (decisions, rewards) removed."""
        gone = set(customer_ids)
        self.close()
        removed = [0, 0]
        for slot, folder in enumerate((self.root, self.root / "rewards")):
            for path in self._files(folder):
                lines = list(_lines(path))
                keep = [ln for ln in lines if json.loads(ln)["customer_id"] not in gone]
                if len(keep) == len(lines):
                    continue
                removed[slot] += len(lines) - len(keep)
                if slot == 1:  # a reward keeps its sequence number as an anonymous tombstone
                    keep = [_tombstone(ln, gone) for ln in lines]
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
                os.replace(tmp, path)
        for decision_id in [k for k, e in self._index.items() if e.customer_id in gone]:
            del self._index[decision_id]
        return removed[0], removed[1]

    def flush(self) -> None:
        for handle in self._handles.values():
            handle.flush()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def _tombstone(line: str, gone: set[str]) -> str:
    """The line itself, or (for an erased customer) a reward with no ids and no outcome, same seq: the
    sequence stays gap-free so a checkpoint's count of learned rewards still points at the right place."""
    r = json.loads(line)
    if r["customer_id"] not in gone:
        return line
    blank = Reward(r["seq"], "", "", r["ts"], False, False, 0.0, 0.0)
    return json.dumps(asdict(blank), separators=(",", ":"))


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip("\n")


def _read_decisions(path: Path) -> Iterator[Decision]:
    for line in _lines(path):
        yield Decision(**json.loads(line))
