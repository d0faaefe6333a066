"""The decision log (`<lake>/decisions/`): every decision served, and the rewards joined to it by id.

Each decision is one JSON line: decision_id, ts, customer_id, the context features, the eligible action ids
in the order the bandit saw them, the chosen index and id, its probability, the whole pmf and the uniform
draw that picked it, the model version and the reason (`bandit`, or `no_eligible_action` for the forced
no-action fallback). That is enough to replay any decision (`NextBestAction.replay`) and to evaluate another
policy off-line (`c360.nba.ope`). Rewards are JSON lines too, with a sequence number; the bandit's checkpoint
records how many it has learned, so a restart relearns exactly the rewards after it. A reward is refused with
a named error, never silently learned, when its decision is unknown, already rewarded, or the reward comes
later than the attribution window after the decision (or before the decision).

The log lives in the workspace's `Lake`, a local folder or ADLS Gen2 (`abfs://`). Object stores cannot
append to a file (Azure append blobs can, but one request per line, and the erasure rewrite below turns
them into block blobs that refuse appends), so the log is append-only by *part*: lines are buffered in
memory and each flush writes new, immutable files

    decisions/<YYYY-MM-DD>/part-<flush time>-<writer>-<n>.jsonl           decisions, by UTC day of decision
    decisions/rewards/<YYYY-MM-DD>/part-<flush time>-<writer>-<n>.jsonl   rewards, by UTC day of reward

named so they sort in write order and two writers never collide (one writer per log assigns the reward
sequence numbers). A flush happens when `batch` lines are buffered or the oldest is `flush_seconds` old
(checked at the next write, before it is buffered), before any read, on `checkpoint` and on `close`: so a
decision costs a list append, and the file write is paid once per batch. A part is written whole or not at
all; a failed flush keeps its lines buffered for the next one and raises to the write that triggered it.
The price of buffering: a crash loses the unflushed lines (at most `batch`, or `flush_seconds` of them).
That is consistent, not wrong: `checkpoint` flushes first, so a checkpoint never counts a reward the log
lost, and a reward for a lost decision is refused as unknown.

`erase(customer_ids)` is the one rewrite: each part holding an erased customer is rewritten without their
decisions (written beside, then moved over: `Lake.replace_bytes`), or removed when nothing is left; the
others are untouched. Their rewards become anonymous tombstones (no decision id, no customer id, no outcome)
that keep the sequence number. `NBA_STEP` (`c360.nba.erasure`) runs it in every erasure.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from c360.errors import ConfigError, NotFoundError, ValidationError
from c360.io.lake import Lake
from c360.privacy.rewrite import StoreCounts

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REWARDS = "rewards"


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
class LogErasure:
    """What `erase` removed: decisions and rewards (made tombstones), and the file counts for the audit."""

    decisions: int
    rewards: int
    counts: StoreCounts


@dataclass
class DecisionLog:
    """Append-only decision and reward parts under `<lake>/<folder>` (normally `decisions`)."""

    lake: Lake
    folder: str = "decisions"
    attribution_days: float = 7.0
    now: datetime | None = None  # "now" when opening: decisions older than the window are not indexed
    batch: int = 1_000
    flush_seconds: float = 60.0
    _index: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)
    _pending: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict, init=False, repr=False)
    _pending_n: int = field(default=0, init=False, repr=False)
    _oldest: float = field(default=0.0, init=False, repr=False)
    _writer: str = field(default_factory=lambda: uuid.uuid4().hex[:8], init=False, repr=False)
    _parts: int = field(default=0, init=False, repr=False)
    _next_seq: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.folder = self.folder.strip("/")
        if not self.folder:
            raise ConfigError("the decision log needs a folder below the lake root")
        if self.batch < 1:
            raise ConfigError(f"decision log batch {self.batch} must be at least 1")
        self.window = timedelta(days=self.attribution_days)
        now = _parse_ts(self.now or datetime.now(UTC))
        oldest_day = (now - self.window - timedelta(days=1)).date().isoformat()
        for day, path in self._decision_parts():
            if day >= oldest_day:
                for d in _read_decisions(self.lake, path):
                    self._index[d.decision_id] = _Entry(_parse_ts(d.ts), d.customer_id, d)
        for r in self.rewards():
            self._next_seq = max(self._next_seq, r.seq + 1)
            entry = self._index.get(r.decision_id)
            if entry is not None:
                entry.rewarded = True

    @property
    def uri(self) -> str:
        return self.lake.full_uri(self.lake.path(self.folder))

    def _decision_parts(self) -> list[tuple[str, str]]:
        return decision_parts(self.lake, self.folder)

    def _reward_parts(self) -> list[str]:
        return [p for _, p in _day_parts(self.lake, f"{self.folder}/{REWARDS}")]

    def _buffer(self, where: str, record: Mapping[str, Any]) -> None:
        """Buffer one line, flushing what is due first: if the lake fails that flush, this line is neither
        buffered nor (the error reaching the caller) served or learned, and nothing buffered is lost."""
        if self._pending_n and (
            self._pending_n >= self.batch or time.monotonic() - self._oldest >= self.flush_seconds
        ):
            self.flush()
        if not self._pending_n:
            self._oldest = time.monotonic()
        self._pending.setdefault(where, []).append(record)
        self._pending_n += 1

    def append(self, decision: Decision) -> None:
        ts = _parse_ts(decision.ts)
        if decision.decision_id in self._index:
            raise ValidationError(f"decision {decision.decision_id} is already logged")
        self._buffer(ts.date().isoformat(), decision.__dict__)
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
        self._buffer(f"{REWARDS}/{at.date().isoformat()}", record.__dict__)
        self._next_seq += 1
        self._index[decision_id].rewarded = True
        return decision, record

    def decisions(self) -> Iterator[Decision]:
        self.flush()
        for _, path in self._decision_parts():
            yield from _read_decisions(self.lake, path)

    def rewards(self) -> list[Reward]:
        self.flush()
        out = [Reward(**json.loads(line)) for p in self._reward_parts() for line in _lines(self.lake, p)]
        return sorted(out, key=lambda r: r.seq)

    def joined(self) -> list[tuple[Decision, Reward | None]]:
        """Every logged decision with its reward (None: no reward arrived)."""
        by_id = {r.decision_id: r for r in self.rewards()}
        return [(d, by_id.get(d.decision_id)) for d in self.decisions()]

    def erase(self, customer_ids: Iterable[str]) -> LogErasure:
        """Remove every decision and reward of these customers, buffered ones included."""
        gone = {str(c) for c in customer_ids}
        self.flush()
        result = erase_from_log(self.lake, self.folder, gone)
        for decision_id in [k for k, e in self._index.items() if e.customer_id in gone]:
            del self._index[decision_id]
        return result

    def flush(self) -> None:
        """Write the buffered lines as new parts: decisions first, so a reward never precedes its decision."""
        if not self._pending_n:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        for where in sorted(self._pending, key=lambda w: (w.startswith(REWARDS), w)):
            self._parts += 1
            path = self.lake.path(self.folder, where, f"part-{stamp}-{self._writer}-{self._parts:06d}.jsonl")
            lines = self._pending[where]
            data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines).encode()
            if self.lake.is_local:  # a kill mid-write must not leave half a part; a blob is committed whole
                self.lake.replace_bytes(path, data)
            else:
                self.lake.write_bytes(path, data)
            del self._pending[where]  # only once written: a failed write keeps its lines for the next flush
            self._pending_n -= len(lines)

    def close(self) -> None:
        self.flush()


def _day_parts(lake: Lake, folder: str) -> list[tuple[str, str]]:
    """(day, path) of every part in `<folder>/<YYYY-MM-DD>/`, in write order."""
    out = []
    for path in lake.glob(f"{folder}/*/*.jsonl"):
        day = path.rsplit("/", 2)[-2]
        if _DAY.match(day):
            out.append((day, path))
    return out


def decision_parts(lake: Lake, folder: str = "decisions") -> list[tuple[str, str]]:
    """(day, path) of every decision part of the log in `<lake>/<folder>`."""
    return _day_parts(lake, folder)


def erase_from_log(lake: Lake, folder: str, customer_ids: Iterable[str]) -> LogErasure:
    """Rewrite the parts of the log in `<lake>/<folder>` that hold one of `customer_ids`: their decisions go,
    their rewards become tombstones. Idempotent: a second run finds nothing and rewrites nothing. A part
    whose bytes hold none of the ids is not parsed at all."""
    gone = {str(c) for c in customer_ids if str(c)}
    needles = [c.encode() for c in gone]
    counts = StoreCounts()
    removed = [0, 0]
    started = time.perf_counter()
    reward_parts = [p for _, p in _day_parts(lake, f"{folder}/{REWARDS}")]
    for slot, paths in enumerate(([p for _, p in decision_parts(lake, folder)], reward_parts)):
        for path in paths:
            counts.files_scanned += 1
            data = lake.read_bytes(path)
            if not any(n in data for n in needles):
                continue
            lines = [ln for ln in data.decode("utf-8").split("\n") if ln.strip()]
            if slot == 0:
                keep = [ln for ln in lines if json.loads(ln)["customer_id"] not in gone]
                hit = len(lines) - len(keep)
            else:  # a reward keeps its sequence number as an anonymous tombstone
                keep = [_tombstone(ln, gone) for ln in lines]
                hit = sum(a != b for a, b in zip(lines, keep, strict=True))
            if not hit:
                continue
            removed[slot] += hit
            counts.rows += hit
            if not keep:
                lake.rm(path)
                counts.files_deleted += 1
                counts.bytes_removed += len(data)
                continue
            new = "".join(ln + "\n" for ln in keep).encode("utf-8")
            lake.replace_bytes(path, new)
            counts.files_rewritten += 1
            counts.bytes_rewritten += len(new)
            counts.bytes_removed += len(data) - len(new)
    counts.seconds = time.perf_counter() - started
    return LogErasure(removed[0], removed[1], counts)


def _tombstone(line: str, gone: set[str]) -> str:
    """The line itself, or (for an erased customer) a reward with no ids and no outcome, same seq: the
    sequence stays gap-free so a checkpoint's count of learned rewards still points at the right place."""
    r = json.loads(line)
    if r["customer_id"] not in gone:
        return line
    blank = Reward(r["seq"], "", "", r["ts"], False, False, 0.0, 0.0)
    return json.dumps(asdict(blank), separators=(",", ":"))


def _lines(lake: Lake, path: str) -> Iterator[str]:
    for line in lake.read_text(path).split("\n"):
        if line.strip():
            yield line


def _read_decisions(lake: Lake, path: str) -> Iterator[Decision]:
    for line in _lines(lake, path):
        yield Decision(**json.loads(line))
