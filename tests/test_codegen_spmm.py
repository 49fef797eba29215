"""spmm and scatter kernels (one shared template) on CPU against the interpreter."""

import pytest
import torch

from gnncc.codegen.testing import check_node, edge_case_graphs, neighbour_configs, sparse_node
from gnncc.ir.ops import REDUCE_KINDS

GRAPHS = {dtype: edge_case_graphs(dtype) for dtype in (torch.int32, torch.int64)}
SPMM_OPERANDS = {
    "plain": [("adj", ()), ("src", (13,))],
    "weighted": [("adj", ()), ("src", (13,)), ("nnz", ())],
    "heads": [("adj", ()), ("src", (3, 5)), ("nnz", (3,))],
}


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("reduce", REDUCE_KINDS)
@pytest.mark.parametrize("variant", sorted(SPMM_OPERANDS))
def test_spmm(index_dtype, graph, reduce, variant):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("spmm", adj, SPMM_OPERANDS[variant], reduce=reduce))


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("reduce", REDUCE_KINDS)
@pytest.mark.parametrize("rest", [(), (7,), (2, 3)])
def test_scatter(index_dtype, graph, reduce, rest):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("scatter", adj, [("nnz", rest), ("adj", ())], reduce=reduce))


@pytest.mark.parametrize("config", neighbour_configs("spmm"), ids=str)
@pytest.mark.parametrize("width", [13, 70])
def test_spmm_configs(config, width):
    for graph in ("random", "hub"):
        adj = GRAPHS[torch.int32][graph]
        operands = [("adj", ()), ("src", (width,)), ("nnz", ())]
        check_node(*sparse_node("spmm", adj, operands, reduce="mean"), config)
        check_node(*sparse_node("scatter", adj, [("nnz", (width,)), ("adj", ())], reduce="max"), config)


def test_scatter_int_messages():
    adj = GRAPHS[torch.int32]["random"]
    for reduce in ("sum", "max"):
        shapes = [("nnz", (4,)), ("adj", ())]
        check_node(*sparse_node("scatter", adj, shapes, dtype=torch.int64, reduce=reduce))
