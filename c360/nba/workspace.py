"""The next-best-action stage in a workspace: where its log and checkpoints live, and what `c360 nba
simulate` and `c360 nba evaluate` run.

- The decision log is `<lake>/decisions/` (`c360.nba.decisions`), local or `abfs://`.
- The production checkpoint, `current`, is `<lake>/models/nba/current/nba.vw` on a local lake. VW reads and
  writes its model files through the local file system only, so on an `abfs://` lake it is the workspace's
  own `models/nba/current/nba.vw`. A candidate is any other checkpoint path (relative to the current folder).
- The catalogue is `training/configs/nba/catalog.yaml` unless a command names another.

`simulate` runs the simulator over the workspace's demo people (the seed and size `c360 demo-data` wrote to
`ground_truth/manifest.json`; the generator's defaults without it) through the real engine: eligibility, the
bandit restored from `current` (its checkpoint plus every reward the log holds beyond it), and the decision
log, so `evaluate` has traffic to read. The simulator's customer ids are the generator's person numbers
(`C000123`), not resolved customer ids: a demo log, not production traffic. Each run continues the log's
clock and draws new visits, so runs add up instead of repeating.

`evaluate` is what is read before a promotion: the candidate's greedy policy (and, if asked, a baseline's)
on the logged decisions with IPS, SNIPS and DR, their bootstrap 95% intervals and the effective sample size,
next to the logging policy's own value (the mean logged reward). A candidate that learnt from the same log
it is judged on is judged in-sample: for an honest figure, log with `simulate --frozen` after it was trained.

`warm_start` seeds a fresh bandit from `facts/exposures` (`c360.nba.warmstart`: its assumed propensities)
and saves it as `current` (refusing to replace one unless forced) or a candidate. Exposures carry no profile
context here, so it seeds what each action is worth on average; online learning refines it per customer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from c360.errors import NotFoundError, ValidationError
from c360.nba.bandit import Bandit
from c360.nba.catalog import Catalog
from c360.nba.decisions import DecisionLog, decision_parts
from c360.nba.engine import NextBestAction
from c360.nba.ope import Estimate, estimate, evaluate_policy, greedy_policy
from c360.nba.simulator import START, Simulator, random_policy, run_bandit, run_policy
from c360.workspace import Workspace

if TYPE_CHECKING:
    from c360.models.registry import ModelVersion

CURRENT = "current"
_REGISTERED = re.compile(r"^(?:models:/)?nba[:/@](\w+)$")
DEMO_SEED, DEMO_CUSTOMERS = 42, 5000  # `c360 demo-data`'s defaults
MANIFEST = ("ground_truth", "manifest.json")


class NoCheckpointError(NotFoundError):
    """The checkpoint a command names does not exist (`current` before the first `c360 nba simulate`)."""


class NoExposuresError(NotFoundError):
    """`facts/exposures` holds no rows: there is nothing to warm-start from (run `c360 facts` first)."""


class EmptyDecisionLogError(NotFoundError):
    """The decision log holds no decisions: there is nothing to evaluate a policy on."""


def current_checkpoint(ws: Workspace) -> Path:
    parts = ("models", "nba", CURRENT, "nba.vw")
    return Path(ws.lake.path(*parts)) if ws.lake.is_local else ws.root.joinpath(*parts)


def resolve_checkpoint(ws: Workspace, policy: str) -> Path:
    """`current`, a registered version (`nba:3`, `nba:champion`, `models:/nba/3`, `models:/nba@champion`)
    or a checkpoint path (a folder holding `nba.vw` too); a named error when there is none."""
    registered = _REGISTERED.match(policy)
    if registered:
        return registered_checkpoint(ws, registered.group(1))
    path = current_checkpoint(ws) if policy == CURRENT else Path(policy).expanduser().resolve()
    if path.is_dir():
        path = path / "nba.vw"
    if not path.with_name(path.name + ".meta.json").is_file():
        hint = " (run `c360 nba simulate` first)" if policy == CURRENT else ""
        raise NoCheckpointError(f"no bandit checkpoint at {path}{hint}")
    return path


def registered_checkpoint(ws: Workspace, version: str) -> Path:
    """The checkpoint of a registered `nba` version (a local copy when the lake is remote)."""
    from c360.models.registry import champion, load_version
    from c360.nba.model import NbaPolicy

    if version == "champion":
        best = champion(ws, NbaPolicy.name)
        if best is None:
            raise NoCheckpointError("no champion nba version: register one with `c360 nba register`")
        number = best.version
    elif version.isdigit():
        number = int(version)
    else:
        raise ValidationError(f"nba version {version!r}: give a number or 'champion'")
    model = load_version(ws, NbaPolicy.name, number)
    if not isinstance(model, NbaPolicy):
        raise ValidationError(f"nba version {number} is not a bandit checkpoint")
    return model.checkpoint_


def checkpoint_version(path: Path) -> str:
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text(encoding="utf-8"))
    return str(meta.get("version", "?"))


def demo_population(ws: Workspace) -> tuple[int, int]:
    """(seed, customers) of the workspace's demo data, or the generator's defaults."""
    if ws.lake.exists(*MANIFEST):
        manifest = json.loads(ws.lake.read_text(ws.lake.path(*MANIFEST)))
        return int(manifest["seed"]), int(manifest["customers"])
    return DEMO_SEED, DEMO_CUSTOMERS


@dataclass(frozen=True)
class SimulationReport:
    decisions: int
    reward_rate: float  # realised conversions per decision of the bandit
    random_rate: float  # a uniformly random eligible action on the same visits (expected reward)
    expected_rate: float  # the bandit's expected reward per decision (the simulator's hidden truth)
    seed: int
    customers: int
    learned: bool
    checkpoint: str | None  # where the model was saved (None: frozen, nothing saved)
    version: str
    log: str


def _log_clock(ws: Workspace, log: DecisionLog) -> tuple[datetime, int]:
    """Where a new run continues: a minute after the last logged decision, and a fresh visit stream."""
    parts = decision_parts(ws.lake, log.folder)
    if not parts:
        return START, 0
    last_day = parts[-1][0]
    latest = max(
        datetime.fromisoformat(json.loads(line)["ts"])
        for day, path in parts
        if day == last_day
        for line in ws.lake.read_text(path).splitlines()
        if line.strip()
    )
    return latest + timedelta(minutes=1), len(parts)


def simulate(
    ws: Workspace,
    catalog: Catalog,
    decisions: int = 5_000,
    learn: bool = True,
    save_as: Path | None = None,
    seed: int | None = None,
    customers: int | None = None,
) -> SimulationReport:
    """Serve `decisions` simulated visits through the engine into the workspace's log (see module doc)."""
    if decisions < 1:
        raise ValidationError(f"--decisions must be at least 1, not {decisions}")
    demo_seed, demo_customers = demo_population(ws)
    seed = demo_seed if seed is None else seed
    customers = demo_customers if customers is None else customers
    log = DecisionLog(ws.lake, attribution_days=catalog.attribution_days)
    start, stream = _log_clock(ws, log)
    try:
        sim = Simulator(catalog, seed, customers, start=start, stream=stream)
        baseline = Simulator(catalog, seed, customers, start=start, stream=stream)
    except ValueError as exc:
        raise ValidationError(f"the simulator cannot run this catalogue: {exc}") from None
    current = current_checkpoint(ws)
    if current.with_name(current.name + ".meta.json").is_file():
        engine = NextBestAction.restore(catalog, current, log)
    else:
        engine = NextBestAction(catalog, Bandit(seed=seed), log)
    try:
        run = run_bandit(sim, engine, decisions, learn=learn)
        target = (save_as or current) if learn else None
        version = engine.checkpoint(target) if target is not None else engine.bandit.version
        log.close()
    finally:
        engine.bandit.close()
    rand = run_policy(baseline, random_policy(seed), decisions)
    return SimulationReport(
        decisions=decisions,
        reward_rate=float(run.rewards.mean()),
        random_rate=float(rand.expected.mean()),
        expected_rate=float(run.expected.mean()),
        seed=seed,
        customers=customers,
        learned=learn,
        checkpoint=str(target) if target is not None else None,
        version=version,
        log=log.uri,
    )


@dataclass(frozen=True)
class PolicyEstimates:
    name: str  # as asked: `current`, a path, `logged`
    version: str
    estimates: list[Estimate]


@dataclass(frozen=True)
class Evaluation:
    log: str
    decisions: int
    rewarded: int
    logged: PolicyEstimates  # the logging policy's own value: the mean logged reward
    candidate: PolicyEstimates
    baseline: PolicyEstimates | None = None


def evaluate(
    ws: Workspace,
    catalog: Catalog,
    policy: str,
    baseline: str | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> Evaluation:
    """IPS / SNIPS / DR of `policy` (and `baseline`) on the workspace's decision log (see module doc)."""
    if n_boot < 10:
        raise ValidationError(f"--n-boot must be at least 10, not {n_boot}")
    paths = {name: resolve_checkpoint(ws, name) for name in (policy, baseline) if name is not None}
    log = DecisionLog(ws.lake, attribution_days=catalog.attribution_days)
    rows = log.joined()
    if not rows:
        raise EmptyDecisionLogError(
            f"the decision log {log.uri} holds no decisions: serve some, or run `c360 nba simulate`"
        )
    unknown = sorted({a for d, _ in rows for a in d.actions} - set(catalog.by_id()))
    if unknown:
        raise ValidationError(
            f"the decision log names actions the catalogue does not hold ({', '.join(unknown[:5])}): "
            "evaluate with the catalogue the decisions were made with (--catalog)"
        )
    reward = np.array([r.reward if r is not None else 0.0 for _, r in rows])
    prob = np.array([d.probability for d, _ in rows])
    (mean,) = [e for e in estimate(reward, prob, prob, n_boot=n_boot, seed=seed) if e.estimator == "IPS"]
    served = Estimate("mean", mean.value, mean.low, mean.high, mean.ess, mean.n)
    logged = PolicyEstimates("logged", "as served", [served])

    def judged(name: str) -> PolicyEstimates:
        bandit = Bandit.load(paths[name])
        try:
            found = evaluate_policy(rows, catalog, greedy_policy(bandit), n_boot=n_boot, seed=seed)
        finally:
            bandit.close()
        return PolicyEstimates(name, checkpoint_version(paths[name]), found)

    return Evaluation(
        log=log.uri,
        decisions=len(rows),
        rewarded=sum(r is not None for _, r in rows),
        logged=logged,
        candidate=judged(policy),
        baseline=judged(baseline) if baseline is not None else None,
    )


@dataclass(frozen=True)
class WarmStartReport:
    exposures: int
    examples: int
    skipped: int  # exposures whose offer and channel match no catalogue action
    updates: int
    checkpoint: str
    version: str


def warm_start_from_exposures(
    ws: Workspace, catalog: Catalog, passes: int = 1, save_as: Path | None = None, force: bool = False
) -> WarmStartReport:
    """A fresh bandit learnt from the exposures table, saved as `current` or `save_as` (see module doc)."""
    from c360.facts.schemas import EXPOSURES
    from c360.facts.store import read_facts
    from c360.nba.warmstart import examples_from_exposures, warm_start

    if passes < 1:
        raise ValidationError(f"--passes must be at least 1, not {passes}")
    target = save_as or current_checkpoint(ws)
    if target.with_name(target.name + ".meta.json").is_file() and not force:
        raise ValidationError(f"a checkpoint exists at {target}: pass --force to replace it by a warm start")
    columns = ["customer_id", "channel", "offer_id", "variant", "clicked", "converted", "revenue_rc"]
    exposures = read_facts(ws.lake, EXPOSURES, columns=columns).to_pandas()
    if exposures.empty:
        where = f"{ws.lake.display_uri}/facts/exposures"
        raise NoExposuresError(f"no exposures in {where}: run `c360 facts` first")
    warm = examples_from_exposures(exposures, catalog)
    if not warm.examples:
        raise ValidationError(
            f"none of {len(exposures):,} exposures matches a catalogue action (offer and channel): "
            "check the catalogue's offers against the campaigns' offer ids"
        )
    bandit = Bandit(seed=0)
    try:
        updates = warm_start(bandit, warm, passes)
        version = bandit.save(target)
    finally:
        bandit.close()
    return WarmStartReport(len(exposures), len(warm.examples), warm.skipped, updates, str(target), version)


def register_checkpoint(
    ws: Workspace, catalog: Catalog, policy: str = CURRENT, promote: bool | None = None, n_boot: int = 200
) -> ModelVersion:
    """Register a checkpoint as the next `nba` version (`c360.nba.model`); its metrics are the off-policy
    estimates of its greedy policy on the workspace's decision log, when the log holds decisions."""
    from c360.models.registry import register_model
    from c360.nba.model import NbaPolicy

    path = resolve_checkpoint(ws, policy)
    model = NbaPolicy.from_checkpoint(path, catalog)
    try:
        judged = evaluate(ws, catalog, str(path), n_boot=n_boot)
    except EmptyDecisionLogError:
        judged = None
    if judged is not None:
        model.card.metrics = {e.estimator.lower(): e.value for e in judged.candidate.estimates}
        model.card.metrics["ess"] = judged.candidate.estimates[0].ess
        model.card.extra["evaluated_on"] = {"log": judged.log, "decisions": judged.decisions}
    description = f"bandit checkpoint {checkpoint_version(path)} ({policy})"
    return register_model(ws, model, promote=promote, description=description)
