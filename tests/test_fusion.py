"""Fusion, reordering and unrolling passes: same results as PyG with each pass on and off.

Every model of ``pass_models`` is compiled with the default pipeline, with each new pass
switched off, and with all of them off, on a random multigraph (self-loops, duplicate edges,
isolated nodes) and on Cora; with the default pipeline also on the remaining edge-case graphs.
"""

from __future__ import annotations

import pytest
import torch
from compare import compiled_matches
from graphs import EDGE_CASE_GRAPHS, random_graph
from pass_models import MODELS, make

import gnncc

TOL = 1e-4
NEW_PASSES = ("simplify_arithmetic", "distribute_transforms", "factor_aggregations", "reorder_transform_aggregate",
              "hoist_edge_transforms", "factor_destination_terms", "fuse_attention", "fuse_dot_reduce", "fuse_epilogue",
              "fuse_matmul_epilogue", "merge_sibling_matmuls")
SETTINGS = {
    "default": {},
    **{f"no_{name}": {name: False} for name in NEW_PASSES},
    "none": dict.fromkeys(NEW_PASSES, False),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_random_graph_each_pass_on_and_off(name: str, setting: str) -> None:
    graph = random_graph(50, 200, seed=7, self_loops=10, duplicates=20, isolated=5)
    x = torch.randn(graph.num_nodes, 12, generator=torch.Generator().manual_seed(1))
    compiled_matches(make(name, 12, 5), graph, x, TOL, passes=SETTINGS[setting])


# self-loops and duplicate edges are part of the random graph above
@pytest.mark.parametrize("graph_name", ["hub", "isolated", "one_node", "one_node_no_edges"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_edge_case_graphs_default_pipeline(name: str, graph_name: str) -> None:
    graph = EDGE_CASE_GRAPHS[graph_name]()
    x = torch.randn(graph.num_nodes, 12, generator=torch.Generator().manual_seed(2))
    compiled_matches(make(name, 12, 5), graph, x, TOL)


@pytest.mark.parametrize("setting", ["default", "none"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cora(name: str, setting: str) -> None:
    data = gnncc.datasets.load("cora")
    compiled_matches(make(name, data.x.shape[1], 7), data.graph, data.x, TOL, passes=SETTINGS[setting])
