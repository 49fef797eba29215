"""Using tuning results at compile time: the schedule config ``gnncc.compile`` should build with.

``pick_config`` answers, in order: the best measured record for this exact kernel, graph,
target, device and versions (the latest confirmation round's winner: ``Database.ranked``);
else the cost model's pick (when a trained model file exists) among configs that were fast
for the same family on other graphs; else the family default.

The model is trusted only where it has seen data: for a graph within ``NEAR_LOG2`` (2x) in
nodes, edges and feature width of one it was trained on, and for a pick it predicts at least
``MODEL_MARGIN`` faster than the default. Outside that, its predictions are extrapolation: a
model trained on five large cases predicted 6-29% gains on the smaller graphs, and 13 of its 22
picks there measured 11-51% slower than the default (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gnncc.codegen.schedule import load_space
from gnncc.codegen.spec import spec_of
from gnncc.codegen.target import Target
from gnncc.errors import CodegenError
from gnncc.graph import Graph
from gnncc.ir.function import Node
from gnncc.tune.database import Database, config_id, model_path_for, task_key
from gnncc.tune.task import node_nnz

MODEL_CANDIDATES = 8  # configs the model ranks at compile time (each costs a TIR build, 50-600 ms)
NEAR_LOG2 = 1.0  # a trained-on graph within 2x in each of these (log2) features makes the model applicable
SHAPE_FEATURES = ("graph.log_nodes", "graph.log_nnz", "op.log_width")
MODEL_MARGIN = 0.9  # a predicted gain under 10% is within timing noise: keep the default
_DATABASES: dict[Path, Database] = {}


def _database(log_path: str | Path | None) -> Database:
    db = Database(log_path)
    return _DATABASES.setdefault(db.path.resolve(), db)  # one per file: re-reads only when it changed


def best_config(node: Node, graph: Graph, target: Target, log_path: str | Path | None = None,
                index_dtype: str | None = None) -> dict[str, Any] | None:
    """The fastest recorded config of ``node``'s kernel on ``graph`` and ``target``, or None."""
    space = load_space(node.family, target.kind, target.vector_bits)
    key = task_key(spec_of(node, index_dtype), graph, target)
    for rec in _database(log_path).ranked(key):
        try:
            return space.validate(rec["config"])
        except CodegenError:  # the space changed since it was recorded
            continue
    return None


def select_config(node: Node, graph: Graph, target: Target, log_path: str | Path | None = None,
                  index_dtype: str | None = None) -> tuple[dict[str, Any], str]:
    """``(config, source)`` with source ``"tuned"``, ``"model"`` or ``"default"``."""
    best = best_config(node, graph, target, log_path, index_dtype)
    if best is not None:
        return best, "tuned"
    space = load_space(node.family, target.kind, target.vector_bits)
    db = _database(log_path)
    model_path = model_path_for(db.path)
    if model_path.is_file():
        picked = _model_pick(node, graph, target, db, model_path, index_dtype)
        if picked is not None:
            return picked, "model"
    return dict(space.default), "default"


def pick_config(node: Node, graph: Graph, target: Target, log_path: str | Path | None = None,
                index_dtype: str | None = None) -> dict[str, Any]:
    """The config to build ``node`` with: best record, else the cost model's pick, else the default."""
    return select_config(node, graph, target, log_path, index_dtype)[0]


def _model_pick(node: Node, graph: Graph, target: Target, db: Database, model_path: Path,
                index_dtype: str | None) -> dict[str, Any] | None:
    from gnncc.tune.cost_model import CostModel, group_of
    from gnncc.tune.features import FEATURE_VERSION, Featurizer

    group = group_of(node.family, target.kind)
    model = CostModel.load(model_path)
    if not model.trained(group):
        return None
    space = load_space(node.family, target.kind, target.vector_bits)
    featurize = Featurizer(spec_of(node, index_dtype), space, graph, node_nnz(node), target)
    default = space.validate(space.default)
    trained_on = {rec["key"]: rec["features"] for rec in db.training_set(node.family, target.kind, FEATURE_VERSION)}
    if not _near(featurize.fixed, trained_on.values()):  # graph and op features: no TIR build needed
        return None
    # configs that won on other graphs first, then the default and its neighbourhood
    pool = []
    for cfg in [default, *(db.best(key)["config"] for key in trained_on), *space.neighbours()]:
        try:
            pool.append(space.validate(cfg))
        except CodegenError:  # recorded before the space changed
            continue
    unique = list({config_id(c): c for c in pool}.values())[:MODEL_CANDIDATES]  # the default is unique[0]
    pred = model.predict(group, [featurize(c) for c in unique])
    if pred is None:
        return None
    best = int(pred.argmin())
    return unique[best] if pred[best] <= MODEL_MARGIN * pred[0] else None


def _near(features: dict[str, float], trained_on: Iterable[dict[str, float]]) -> bool:
    """Whether some trained-on task is within ``NEAR_LOG2`` of ``features`` in every shape feature."""
    return any(all(abs(features[k] - seen[k]) <= NEAR_LOG2 for k in SHAPE_FEATURES if k in features and k in seen)
               for seen in trained_on)
