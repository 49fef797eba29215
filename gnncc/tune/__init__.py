"""Autotuning of gnncc kernels' schedule configs, organised as TVM MetaSchedule is.

- ``task``: what is tuned (a kernel with real operands on one graph and target);
- ``features``: knobs, graph statistics, op shape and TIR counts of a candidate;
- ``cost_model``: XGBoost predicting run time from features (transfers across graphs);
- ``search``: model-guided evolutionary search with epsilon-greedy exploration;
- ``measure``: builder/runner worker processes (timeouts, crash isolation, correctness check);
- ``database``: append-only JSON-lines records keyed by a hash of all that changes a result;
- ``tuner``: the loop; ``apply``: the config ``gnncc.compile`` should use.

See ``docs/tuning.md``.
"""

from gnncc.tune.apply import best_config, pick_config, select_config
from gnncc.tune.cost_model import CostModel
from gnncc.tune.database import Database, default_log_path
from gnncc.tune.measure import Measurer, MeasureResult
from gnncc.tune.search import EvolutionarySearch
from gnncc.tune.task import TuneTask, model_tasks, op_task
from gnncc.tune.tuner import TaskResult, Tuner

__all__ = [
    "CostModel", "Database", "EvolutionarySearch", "MeasureResult", "Measurer", "TaskResult", "TuneTask", "Tuner",
    "best_config", "default_log_path", "model_tasks", "op_task", "pick_config", "select_config",
]
