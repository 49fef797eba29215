"""The tuning loop: propose a batch, measure it in workers, record it, retrain the model, repeat.

Per task the default config is measured first (the baseline, and a check the task works);
later batches come from the model-guided search. Trials count every record of the task in
the log, so an interrupted run resumes where it stopped: re-running with the same budget
measures only what is missing. The cost model is retrained after each batch on all records
of the family (every graph in the log) and saved next to the log.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnncc.tune.cost_model import CostModel, group_of
from gnncc.tune.database import Database, config_id, make_record, model_path_for
from gnncc.tune.features import FEATURE_VERSION, Featurizer, remember_tir
from gnncc.tune.measure import Measurer
from gnncc.tune.search import EvolutionarySearch
from gnncc.tune.task import TuneTask


@dataclass
class TaskResult:
    """What tuning one task found; ``curve[i]`` is the best ms after trial ``i + 1`` (None: none yet)."""

    name: str
    key: str
    default_ms: float | None
    best_ms: float | None
    best_config: dict[str, Any] | None
    trials: int
    failures: int
    curve: list[float | None] = field(default_factory=list)

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
                 batch_size: int = 8, epsilon: float = 0.2, seed: int = 0, progress: Progress | None = None) -> None:
        self.db = db
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
        for rec in self.db.for_key(task.key):  # resume: what the log already has
            self._account(result, measured, rec["config"], rec.get("ms"), default_id)

        def score(configs: list[dict[str, Any]]) -> Any:
            return self.model.predict(group, [featurize(c) for c in configs])

        search = EvolutionarySearch(task.space, score, self.rng, self.epsilon)
        self._report(index, count, result, budget)
        while result.trials < budget and (deadline is None or time.monotonic() < deadline):
            batch = search.propose(measured, min(self.batch_size, budget - result.trials))
            if not batch:
                break
            for r in self.measurer.measure(task, batch):
                if r.tir is not None:
                    remember_tir(task.spec, r.config, task.target, r.tir)
                self.db.append(make_record(task.key, task.name, task.family, task.target, task.graph, r.config,
                                           r.ms, r.error, featurize(r.config), FEATURE_VERSION))
                self._account(result, measured, r.config, r.ms, default_id)
                self._report(index, count, result, budget)
            self.retrain(task.family, task.target.kind)
        return result

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
                result.default_ms = ms
            if result.best_ms is None or ms < result.best_ms:
                result.best_ms, result.best_config = ms, dict(config)
        result.curve.append(result.best_ms)

    def _report(self, index: int, count: int, result: TaskResult, budget: int) -> None:
        if self.progress is not None:
            self.progress(index, count, result, budget)
