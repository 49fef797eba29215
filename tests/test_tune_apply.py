"""Which config ``gnncc.compile`` builds with: the cost model's pick is used only near the graphs it
was trained on, and only when it predicts a gain over the default larger than timing noise."""

import pytest
import torch

from gnncc.codegen.target import Target
from gnncc.graph import Graph
from gnncc.tune import Database, Tuner, op_task, select_config
from gnncc.tune.measure import MeasureResult

CPU = Target("cpu")
pytestmark = pytest.mark.usefixtures("knob_only_features")  # the loop and the log, not TIR


def random_graph(nodes: int, edges: int, seed: int = 0) -> Graph:
    g = torch.Generator().manual_seed(seed)
    return Graph(torch.randint(0, nodes, (2, edges), generator=g), nodes)


class TableMeasurer:
    """Times from a function of the config, without worker processes."""

    def __init__(self, ms) -> None:
        self.ms = ms

    def measure_each(self, task, configs):
        for c in configs:
            yield MeasureResult(c, self.ms(c), None)


def tuned_log(tmp_path, ms) -> str:
    log = tmp_path / "r.jsonl"
    task = op_task("spmm", random_graph(50, 300), 16, CPU)
    Tuner(Database(log), TableMeasurer(ms), batch_size=8, confirm=0).tune([task], trials=16)
    return str(log)


def source_for(log: str, graph: Graph, feat: int) -> str:
    task = op_task("spmm", graph, feat, CPU)
    return select_config(task.node, task.graph, CPU, log, task.index_dtype)[1]


def test_the_model_picks_only_near_the_graphs_it_was_trained_on(tmp_path):
    log = tuned_log(tmp_path, lambda c: 0.01 * c["feat_tile"])  # smaller tiles are much faster
    assert source_for(log, random_graph(50, 300, seed=1), 16) == "model"  # same sizes, another graph
    assert source_for(log, random_graph(70, 500, seed=1), 16) == "model"  # within 2x
    assert source_for(log, random_graph(400, 2400, seed=1), 16) == "default"  # 8x the nodes and edges
    assert source_for(log, random_graph(50, 300, seed=1), 128) == "default"  # 8x the feature width


def test_no_predicted_gain_keeps_the_default(tmp_path):
    log = tuned_log(tmp_path, lambda c: 1.0)  # every config alike: nothing to gain
    assert source_for(log, random_graph(50, 300, seed=1), 16) == "default"
