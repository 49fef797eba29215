"""Control flow in models: loops inside APPNP/SGConv leaves and over ModuleLists become straight-line IR.

fx unrolls Python loops in ``forward``; APPNP and SGConv loop inside a ``MessagePassing`` leaf,
so their lowerings unroll the ``K`` steps themselves. Afterwards fusion works across steps.
"""

from __future__ import annotations

import pytest
import torch
from graphs import EDGE_CASE_GRAPHS
from pass_models import Jumping, make
from torch_geometric.nn import APPNP, SGConv

import gnncc
from gnncc.check import relative_error
from gnncc.errors import UnsupportedError
from gnncc.frontend import lower_pyg


@pytest.mark.parametrize("k", [1, 3, 10])
def test_appnp_unrolls_k_steps_each_fused_into_one_spmm(k: int) -> None:
    graph = EDGE_CASE_GRAPHS["self_loops"]()
    model = APPNP(K=k, alpha=0.15).eval()
    fn = lower_pyg(model, graph.num_nodes, graph.num_edges, in_features=6)
    assert sum(n.op == "scatter" for n in fn.nodes) == k + 1  # k propagations + the degree count
    cm = gnncc.compile(model, graph, in_features=6)
    fused = [n for n in cm.ir.nodes if n.op == "fused_spmm"]
    assert len(fused) == k and all(list(n.attrs["epilogue"]) == ["mul[scalar]", "add[node]"] for n in fused)
    assert {n.op for n in cm.ir.nodes} <= {"input", "const", "reshape", "mul", "fused_spmm"}
    x = torch.randn(graph.num_nodes, 6)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4


def test_appnp_k_zero_is_the_identity() -> None:
    graph = EDGE_CASE_GRAPHS["random"]()
    x = torch.randn(graph.num_nodes, 5)
    assert relative_error(gnncc.compile(APPNP(K=0, alpha=0.1), graph, in_features=5)(x), x) == 0


@pytest.mark.parametrize("k", [1, 2, 4])
def test_sgconv_unrolls_k_hops(k: int) -> None:
    graph = EDGE_CASE_GRAPHS["isolated"]()
    model = SGConv(12, 3, K=k).eval()
    cm = gnncc.compile(model, graph)
    assert sum(n.op in ("spmm", "fused_spmm") for n in cm.ir.nodes) == k
    x = torch.randn(graph.num_nodes, 12)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4


@pytest.mark.parametrize("mode", ["cat", "max"])
def test_jumping_knowledge_over_a_module_list_loop(mode: str) -> None:
    graph = EDGE_CASE_GRAPHS["duplicates"]()
    model = make(f"jk_{mode}", 12, 4)
    cm = gnncc.compile(model, graph)
    # one aggregation per unrolled layer; the first aggregates before its (widening) transform, so
    # its bias and relu follow the matmul; the others end in them
    assert sum(n.op in ("spmm", "fused_spmm") for n in cm.ir.nodes) == 3
    assert sum(n.op == "fused_spmm" for n in cm.ir.nodes) == 2
    ops = [n.op for n in cm.ir.nodes]
    if mode == "cat":  # the output Linear meets each layer's rows through its own weight block, summed in
        assert "concat" not in ops and any(n.op == "fused_matmul" and n.attrs["epilogue"].count("add[node]") >= 1
                                           for n in cm.ir.nodes)  # its epilogue: no [N, 48] concatenation
    else:
        assert "fused_spmm" in ops
    x = torch.randn(graph.num_nodes, 12)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4


def test_jumping_knowledge_lstm_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match=r"JumpingKnowledge\) uses mode='lstm'"):
        lower_pyg(Jumping(6, 3, "lstm").eval(), 10, 20)
