"""The tuning loop: propose a batch, measure it in workers, record it, retrain the model, repeat.

Per task the default config is measured first (the baseline, and a check the task works);
later batches come from the model-guided search. Trials count every record of the task in
the log, so an interrupted run resumes where it stopped: re-running with the same budget
measures only what is missing. Each result is appended to the log as soon as its run ends,
so a kill mid-batch loses at most the candidate being timed. The cost model is retrained
after each batch on all records of the family (every graph in the log) and saved next to
the log.

When the search is done, the ``confirm`` best configs by their single search timings, and
the default, are timed again in interleaved passes (``Measurer.remeasure``) and recorded as
a confirmation round: the record ``gnncc.compile`` then uses is the round's winner, not the
luckiest single timing. Under a time budget each batch is sized to end in time, leaving the
round its time (both estimated from the candidates measured so far).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnncc.tune.cost_model import CostModel, group_of
from gnncc.tune.database import Confirmation, Database, config_id, is_confirmation, make_record, model_path_for
from gnncc.tune.features import FEATURE_VERSION, Featurizer, remember_tir
from gnncc.tune.measure import Measurer, MeasureResult
from gnncc.tune.search import EvolutionarySearch
from gnncc.tune.task import TuneTask

CONFIRM_WITHIN = 2.0  # a config timed over twice the search's best is not re-timed: noise is 10-20%


@dataclass
class TaskResult:
    """What tuning one task found; ``curve[i]`` is the best ms after trial ``i + 1`` (None: none yet).

    After a confirmation round, ``default_ms``, ``best_ms`` and ``best_config`` are the round's
    (interleaved times) and ``confirmed`` lists its configs, fastest first. ``search_default_ms``
    stays the default's search timing, the one the curve's times compare with.
    """

    name: str
    key: str
    default_ms: float | None
    best_ms: float | None
    best_config: dict[str, Any] | None
    trials: int
    failures: int
    curve: list[float | None] = field(default_factory=list)
    phase: str = "search"  # "search", then "confirm" while the round runs, then "done"
    confirmed: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    search_default_ms: float | None = None

    @property
    def speedup(self) -> float | None:
        if self.default_ms is None or self.best_ms is None:
            return None
        return self.default_ms / self.best_ms


# progress(task index, task count, result so far, trial budget of the task)
Progress = Callable[[int, int, TaskResult, int], None]


class Tuner:
    """Tunes tasks into one log (``db``); the cost model is read from and saved to ``model_path``."""

    def __init__(self, db: Database, measurer: Measurer, model_path: str | Path | None = None,
                 batch_size: int = 8, epsilon: float = 0.2, seed: int = 0, progress: Progress | None = None,
                 confirm: int = 4, confirm_passes: int = 3) -> None:
        if confirm < 0 or confirm_passes < 1:
            raise ValueError(f"confirm must be >= 0 and confirm_passes >= 1, got {confirm} and {confirm_passes}")
        self.db = db
        self.confirm = confirm
        self.confirm_passes = confirm_passes
        self.measurer = measurer
        self.model_path = Path(model_path) if model_path is not None else model_path_for(db.path)
        self.model = CostModel.load(self.model_path)
        self.batch_size = batch_size
        self.epsilon = epsilon
        self.rng = random.Random(seed)
        self.progress = progress

    def tune(self, tasks: list[TuneTask], trials: int | None = None, seconds: float | None = None) -> list[TaskResult]:
        """Tune every task: ``trials`` per task, or ``seconds`` in all (split evenly), whichever is given."""
        if trials is None and seconds is None:
            raise ValueError("give a trial budget, a time budget, or both")
        results = []
        for i, task in enumerate(tasks):
            deadline = None
            if seconds is not None:
                deadline = time.monotonic() + seconds / len(tasks)
            results.append(self.tune_task(task, trials, deadline, i, len(tasks)))
        return results

    def tune_task(self, task: TuneTask, trials: int | None, deadline: float | None = None,
                  index: int = 0, count: int = 1) -> TaskResult:
        space_size = len(list(task.space.points()))
        budget = min(trials if trials is not None else space_size, space_size)
        featurize = Featurizer(task.spec, task.space, task.graph, task.nnz, task.target)
        group = group_of(task.family, task.target.kind)
        default_id = config_id(task.space.validate(task.space.default))
        result = TaskResult(task.name, task.key, None, None, None, 0, 0)
        measured: dict[str, float | None] = {}
        for rec in self.db.search_records(task.key):  # resume: what the log already has
            self._account(result, measured, rec["config"], rec.get("ms"), default_id)
        clock = _BudgetClock(self.confirm_passes)

        def score(configs: list[dict[str, Any]]) -> Any:
            return self.model.predict(group, [featurize(c) for c in configs])

        search = EvolutionarySearch(task.space, score, self.rng, self.epsilon)
        self._report(index, count, result, budget)
        while result.trials < budget:
            size = min(self.batch_size, budget - result.trials)
            if deadline is not None:  # only what fits, leaving the confirmation round its time
                size = min(size, clock.fits(deadline - time.monotonic() - clock.confirm_seconds(
                    self._to_confirm(measured))))
            batch = search.propose(measured, size) if size > 0 else []
            if not batch:
                break
            started = time.monotonic()
            for r in self.measurer.measure_each(task, batch):  # each recorded as soon as it is timed
                if r.tir is not None:
                    remember_tir(task.spec, r.config, task.target, r.tir)
                self.db.append(make_record(task.key, task.name, task.family, task.target, task.graph, r.config,
                                           r.ms, r.error, featurize(r.config), FEATURE_VERSION))
                self._account(result, measured, r.config, r.ms, default_id)
                clock.add(r)
                self._report(index, count, result, budget)
            clock.batch_took(time.monotonic() - started, len(batch))
            self.retrain(task.family, task.target.kind)
        if self.db.is_confirmed(task.key):
            self._adopt(result, task.key, default_id)
        elif self.confirm > 0:
            result.phase = "confirm"
            self._report(index, count, result, budget)
            self._confirm(task, result, measured, featurize, default_id)
        result.phase = "done"
        self._report(index, count, result, budget)
        return result

    def _to_confirm(self, measured: dict[str, float | None]) -> list[str]:
        """Ids of the configs a confirmation round would time: the best ``confirm`` by search time,
        less those over ``CONFIRM_WITHIN`` times the best (noise does not make up that much)."""
        ranked = sorted((ms, cid) for cid, ms in measured.items() if ms is not None)
        return [cid for ms, cid in ranked[: self.confirm] if ms <= CONFIRM_WITHIN * ranked[0][0]]

    def _confirm(self, task: TuneTask, result: TaskResult, measured: dict[str, float | None],
                 featurize: Featurizer, default_id: str) -> None:
        """Re-time the best configs, the default and the last round's winner interleaved, as one round."""
        ids = self._to_confirm(measured)
        champion = self.db.best(task.key)  # the last round's winner (without a round, already in ``ids``)
        for cid in [default_id if measured.get(default_id) is not None else None,
                    config_id(champion["config"]) if champion is not None else None]:
            if cid is not None and cid not in ids:
                ids.append(cid)
        if len(ids) < 2:  # nothing to rank
            return
        configs = [json.loads(cid) for cid in ids]
        results = self.measurer.remeasure(task, configs, self.confirm_passes)
        round_id = Confirmation.new_round_id()
        for r in results:
            confirmation = Confirmation(round_id, len(results), r.samples or [])
            self.db.append(make_record(task.key, task.name, task.family, task.target, task.graph, r.config,
                                       r.ms, r.error, featurize(r.config), FEATURE_VERSION, confirmation))
        self._adopt(result, task.key, default_id)
        self.retrain(task.family, task.target.kind)

    def _adopt(self, result: TaskResult, key: str, default_id: str) -> None:
        """Take the latest confirmation round's times as the task's result."""
        ok = [r for r in self.db.ranked(key) if is_confirmation(r)]  # the round's successes, fastest first
        if not ok:
            return
        result.confirmed = [(dict(r["config"]), r["ms"]) for r in ok]
        result.best_config, result.best_ms = result.confirmed[0]
        result.default_ms = next((ms for c, ms in result.confirmed if config_id(c) == default_id), result.default_ms)

    def retrain(self, family: str, kind: str) -> None:
        """Refit the family's model on every successful record in the log and save it."""
        records = self.db.training_set(family, kind, FEATURE_VERSION)
        if self.model.fit(group_of(family, kind), [r["features"] for r in records], [r["ms"] for r in records]):
            self.model.save(self.model_path)

    @staticmethod
    def _account(result: TaskResult, measured: dict[str, float | None], config: dict[str, Any],
                 ms: float | None, default_id: str) -> None:
        cid = config_id(config)
        if cid in measured:  # a duplicate from a concurrent tuner: count it once
            return
        measured[cid] = ms
        result.trials += 1
        if ms is None:
            result.failures += 1
        else:
            if cid == default_id:
                result.default_ms = result.search_default_ms = ms
            if result.best_ms is None or ms < result.best_ms:
                result.best_ms, result.best_config = ms, dict(config)
        result.curve.append(result.best_ms)

    def _report(self, index: int, count: int, result: TaskResult, budget: int) -> None:
        if self.progress is not None:
            self.progress(index, count, result, budget)


class _BudgetClock:
    """Estimates, from what was measured so far, how long a batch and a confirmation round take."""

    def __init__(self, passes: int) -> None:
        self.passes = passes
        self.run_s: dict[str, float] = {}
        self.build_s = 0.0
        self.per_candidate = 0.0  # wall seconds per candidate of the last batch (0: none yet)

    def add(self, r: MeasureResult) -> None:
        self.build_s = max(self.build_s, r.build_s)
        if r.ms is not None:
            self.run_s[config_id(r.config)] = r.run_s

    def batch_took(self, seconds: float, size: int) -> None:
        self.per_candidate = seconds / max(size, 1)

    def fits(self, seconds: float) -> int:
        """Candidates a batch may have to end within ``seconds`` (any number before the first batch)."""
        if seconds <= 0:
            return 0
        return int(seconds // self.per_candidate) if self.per_candidate > 0 else 1 << 30

    def confirm_seconds(self, ids: list[str]) -> float:
        """Builds (in parallel: one build's time) plus ``passes`` runs of each config (default included)."""
        if not ids:
            return 0.0
        runs = [self.run_s.get(cid, 0.0) for cid in ids]
        return self.build_s + self.passes * (sum(runs) + max(runs))
