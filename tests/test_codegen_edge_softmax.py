"""edge_softmax kernels on CPU against the interpreter, including large scores (stability)."""

import pytest
import torch

from gnncc.codegen.testing import check_node, edge_case_graphs, neighbour_configs, sparse_node

GRAPHS = {dtype: edge_case_graphs(dtype) for dtype in (torch.int32, torch.int64)}


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("rest", [(), (1,), (3,)])
def test_edge_softmax(index_dtype, graph, rest):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("edge_softmax", adj, [("adj", ()), ("nnz", rest)]))


def test_edge_softmax_large_scores():
    adj = GRAPHS[torch.int32]["hub"]
    node, (a, scores) = sparse_node("edge_softmax", adj, [("adj", ()), ("nnz", (2,))])
    check_node(node, [a, scores * 1000.0])


@pytest.mark.parametrize("config", neighbour_configs("edge_softmax"), ids=str)
def test_edge_softmax_configs(config):
    adj = GRAPHS[torch.int32]["random"]
    check_node(*sparse_node("edge_softmax", adj, [("adj", ()), ("nnz", (4,))]), config)
