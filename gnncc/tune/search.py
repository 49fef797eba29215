"""Model-guided evolutionary search over a schedule space, with epsilon-greedy exploration.

As MetaSchedule's evolutionary search: a population seeded with the best measured configs
and random points is mutated (one knob changed, constraints re-checked) for a few
generations, the cost model scores every candidate, and the best unmeasured ones are
proposed; a fraction ``epsilon`` of each batch is random unmeasured points so that a wrong
model cannot trap the search.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np

from gnncc.codegen.schedule import Space
from gnncc.errors import CodegenError
from gnncc.tune.database import config_id

Config = dict[str, Any]
Scorer = Callable[[list[Config]], np.ndarray | None]  # predicted ms (lower is better), None: no model


def mutate(space: Space, config: Config, rng: random.Random, tries: int = 16) -> Config | None:
    """``config`` with one knob set to another allowed value that satisfies the constraints."""
    knobs = [k for k in sorted(space.knobs) if len(space.knobs[k].values) > 1]
    for _ in range(tries if knobs else 0):
        name = rng.choice(knobs)
        value = rng.choice([v for v in space.knobs[name].values if v != config[name]])
        try:
            return space.validate({**config, name: value})
        except CodegenError:
            continue
    return None


class EvolutionarySearch:
    """Proposes batches of unmeasured configs of one space."""

    def __init__(self, space: Space, score: Scorer, rng: random.Random, epsilon: float = 0.2,
                 population: int = 8, generations: int = 2) -> None:
        self.space = space
        self.score = score
        self.rng = rng
        self.epsilon = epsilon
        self.population = population
        self.generations = generations
        self.points = list(space.points())

    def propose(self, measured: dict[str, float | None], k: int) -> list[Config]:
        """Up to ``k`` configs not in ``measured`` (config id -> ms, None for failures); default first."""
        fresh = [p for p in self.points if config_id(p) not in measured]
        if len(fresh) <= k:
            return fresh
        default = self.space.validate(self.space.default)
        picked: list[Config] = [default] if config_id(default) not in measured else []
        n_explore = max(1, round(self.epsilon * k)) if k > 1 else int(self.rng.random() < self.epsilon)
        for c in self._exploit(measured, k - len(picked) - n_explore):
            if config_id(c) not in {config_id(p) for p in picked}:
                picked.append(c)
        taken = {config_id(p) for p in picked}
        rest = [p for p in fresh if config_id(p) not in taken]
        self.rng.shuffle(rest)
        return picked + rest[: k - len(picked)]

    def _exploit(self, measured: dict[str, float | None], k: int) -> list[Config]:
        """The ``k`` unmeasured configs the model ranks best, found by evolution."""
        if k <= 0:
            return []
        ranked = sorted(((ms, cid) for cid, ms in measured.items() if ms is not None))
        by_id = {config_id(p): p for p in self.points}
        pop = [by_id[cid] for _, cid in ranked[: self.population // 2] if cid in by_id]
        pop += self.rng.sample(self.points, min(len(self.points), self.population - len(pop)))
        scored: dict[str, float] = {}
        for _ in range(self.generations + 1):
            children = [c for c in (mutate(self.space, p, self.rng) for p in pop) if c]
            pool = {config_id(c): c for c in pop + children}
            todo = [cid for cid in pool if cid not in scored]
            pred = self.score([pool[cid] for cid in todo])
            if pred is None:
                return []
            scored.update(zip(todo, map(float, pred)))
            pop = [pool[cid] for cid in sorted(pool, key=scored.__getitem__)[: self.population]]
        best = sorted((cid for cid in scored if cid not in measured), key=scored.__getitem__)
        return [by_id[cid] for cid in best[:k]]
