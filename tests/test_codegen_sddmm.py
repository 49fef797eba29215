"""sddmm kernels (add/mul/dot over [N], [N, H], [N, H, C] operands) on CPU against the interpreter."""

import pytest
import torch
from sweeps import knob_sweep

from gnncc.codegen.testing import check_node, edge_case_graphs, sparse_node

GRAPHS = {dtype: edge_case_graphs(dtype) for dtype in (torch.int32, torch.int64)}
CASES = [("add", ()), ("mul", ()), ("add", (4,)), ("mul", (4,)), ("dot", (4,)),
         ("add", (2, 3)), ("mul", (2, 3)), ("dot", (2, 3))]


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("op,rest", CASES)
def test_sddmm(index_dtype, graph, op, rest):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("sddmm", adj, [("adj", ()), ("src", rest), ("dst", rest)], op=op))


@pytest.mark.parametrize("config", knob_sweep("sddmm"))
def test_sddmm_configs(config):
    for graph in ("random", "hub"):
        adj = GRAPHS[torch.int32][graph]
        for op, rest in (("mul", (3, 13)), ("dot", (3, 13))):
            check_node(*sparse_node("sddmm", adj, [("adj", ()), ("src", rest), ("dst", rest)], op=op), config)
