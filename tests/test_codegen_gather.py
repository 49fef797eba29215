"""gather kernels (the edge-map template with one operand) on CPU against the interpreter."""

import pytest
import torch

from gnncc.codegen.testing import check_node, edge_case_graphs, neighbour_configs, sparse_node

GRAPHS = {dtype: edge_case_graphs(dtype) for dtype in (torch.int32, torch.int64)}


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("end", ["src", "dst"])
@pytest.mark.parametrize("rest", [(), (9,), (2, 3)])
def test_gather(index_dtype, graph, end, rest):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("gather", adj, [(end, rest), ("adj", ())], end=end))


def test_gather_int():
    adj = GRAPHS[torch.int64]["random"]
    check_node(*sparse_node("gather", adj, [("src", (3,)), ("adj", ())], dtype=torch.int32, end="src"))


@pytest.mark.parametrize("config", neighbour_configs("gather"), ids=str)
def test_gather_configs(config):
    for graph in ("random", "hub"):
        adj = GRAPHS[torch.int32][graph]
        check_node(*sparse_node("gather", adj, [("src", (37,)), ("adj", ())], end="src"), config)
