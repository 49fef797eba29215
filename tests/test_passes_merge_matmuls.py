"""merge_sibling_matmuls, fuse_matmul_epilogue and fuse_dot_reduce (the dense-side fusions): what fires,
what must not, and the answers they give."""

from __future__ import annotations

import torch
from graphs import random_graph
from pass_models import make
from torch_geometric.nn import SAGEConv

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, TensorType, evaluate
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager

TOL = 1e-4


def _matmuls(cm: gnncc.CompiledModel) -> list:
    return [n for n in cm.ir.nodes if n.op in ("matmul", "fused_matmul")]


def _pyg(model: torch.nn.Module, x: torch.Tensor, graph: gnncc.Graph) -> torch.Tensor:
    with torch.no_grad():
        return model(x, graph.edge_index)


def test_sage_reads_its_input_once() -> None:
    """SAGE's lin_l (aggregated) and lin_r (root) become one matmul; the spmm aggregates its first
    columns and adds the rest as the root term."""
    data = gnncc.datasets.load("cora")
    model = SAGEConv(data.x.shape[1], 16).eval()
    cm = gnncc.compile(model, data.graph)
    (merged,) = _matmuls(cm)
    assert merged.inputs[0] is cm.ir.inputs[0] and merged.output.type.shape == (2708, 32)
    (spmm,) = [n for n in cm.ir.nodes if n.op == "fused_spmm"]
    assert list(spmm.attrs["x_cols"]) == [0, 16] and "add[node@16]" in spmm.attrs["epilogue"]
    assert "2 matmuls of one [2708, 1433] input -> one [1433 -> 32]" in cm.explain()
    assert relative_error(cm(data.x), _pyg(model, data.x, data.graph)) < TOL

    off = gnncc.compile(model, data.graph, passes={"merge_sibling_matmuls": False})
    assert [n.output.type.shape for n in _matmuls(off)] == [(2708, 16), (2708, 16)]
    assert "merge_sibling_matmuls" not in [r.name for r in off.pass_records]


def _siblings(return_root: bool):
    """``spmm(A, x W1) + x W2``, also returning ``x W2`` itself when ``return_root``."""
    g = random_graph(8, 20, seed=2)
    gen = torch.Generator().manual_seed(0)
    b = Builder()
    x = b.input("x", TensorType((8, 6)))
    adj = b.emit("graph.adj", type=AdjType(8, 8, g.num_edges))
    y1 = b.emit("matmul", [x, b.const("w1", torch.randn(6, 4, generator=gen))])
    y2 = b.emit("matmul", [x, b.const("w2", torch.randn(6, 4, generator=gen))])
    out = b.emit("add", [b.emit("spmm", [adj, y1], reduce="sum"), y2])
    fn = b.finish([out, y2] if return_root else [out])
    opt, _ = PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(g.csc))
    xv = torch.randn(8, 6, generator=gen)
    assert relative_error(evaluate(opt, {"x": xv}, g.csc)[0], evaluate(fn, {"x": xv}, g.csc)[0]) < TOL
    return opt


def test_a_sibling_read_as_a_whole_tensor_is_not_merged() -> None:
    """The root term returned as well must stay a tensor of its own: nothing merges."""
    merged = _siblings(return_root=False)
    assert [n.attrs["x_cols"] for n in merged.nodes if n.op == "fused_spmm"] == [[0, 4]]
    apart = _siblings(return_root=True)
    assert sum(n.op == "matmul" for n in apart.nodes) == 2
    assert not any(n.attrs["x_cols"] for n in apart.nodes if n.op == "fused_spmm")


def test_merged_and_windowed_sage_matches_pyg_on_random_graphs() -> None:
    """Every aggregation SAGE has, with and without the root weight (no sibling then): one matmul for
    mean and sum, whose transform moves before the aggregation."""
    graph = random_graph(50, 200, seed=7, self_loops=10, duplicates=20, isolated=5)
    x = torch.randn(graph.num_nodes, 24, generator=torch.Generator().manual_seed(1))
    for aggr in ("mean", "sum", "max"):
        for root in (True, False):
            model = SAGEConv(24, 8, aggr=aggr, root_weight=root).eval()
            cm = gnncc.compile(model, graph)
            # max is not linear: its transform stays after the aggregation, with no sibling
            assert len(_matmuls(cm)) == 1 + (aggr == "max" and root)
            assert relative_error(cm(x), _pyg(model, x, graph)) < TOL, (aggr, root)


def test_linear_bias_and_activation_are_the_matmuls_epilogue() -> None:
    """GIN's MLP and APPNP's input MLP: Linear, bias and ReLU are one kernel each."""
    graph = random_graph(30, 90, seed=3)
    x = torch.randn(30, 12, generator=torch.Generator().manual_seed(4))
    for name in ("gin", "appnp"):
        model = make(name, 12, 5)
        cm = gnncc.compile(model, graph)
        ops = [n.op for n in cm.ir.nodes]
        assert "relu" not in ops and "add" not in ops, cm.explain()
        assert any(list(n.attrs["epilogue"]) == ["add[feat]", "relu"] for n in cm.ir.nodes if n.op == "fused_matmul")
        assert "matmul [30, 16] + add[feat], relu: 2 elementwise kernel(s)" in cm.explain()
        assert relative_error(cm(x), _pyg(model, x, graph)) < TOL


def test_two_transforms_meeting_at_one_add_fuse_once() -> None:
    """``(A x) W_l + b + x W_r`` (SAGE max, not reordered): the first matmul takes the bias and the
    sum; the second stays plain instead of both claiming the add."""
    graph = random_graph(30, 90, seed=5)
    model = SAGEConv(8, 8, aggr="max").eval()
    x = torch.randn(30, 8, generator=torch.Generator().manual_seed(6))
    cm = gnncc.compile(model, graph)
    fused = [n for n in cm.ir.nodes if n.op == "fused_matmul"]
    assert len(fused) == 1 and list(fused[0].attrs["epilogue"]) == ["add[feat]", "add[node]"]
    assert [n.op for n in cm.ir.nodes if n.op in ("add", "matmul")] == ["matmul"]
    assert relative_error(cm(x), _pyg(model, x, graph)) < TOL


def test_gat_projections_multiply_as_they_sum() -> None:
    graph = random_graph(30, 90, seed=8)
    x = torch.randn(30, 12, generator=torch.Generator().manual_seed(9))
    model = make("gat", 12, 5)
    cm = gnncc.compile(model, graph)
    ops = [n.op for n in cm.ir.nodes]
    assert ops.count("reduce_dot") == 4 and "reduce_sum" not in ops and "mul" not in ops
    assert cm.explain().count("product written and read back") == 4
    assert relative_error(cm(x), _pyg(model, x, graph)) < TOL


def test_a_product_read_elsewhere_is_not_folded() -> None:
    g = random_graph(8, 20, seed=2)
    b = Builder()
    x = b.input("x", TensorType((8, 2, 3)))
    prod = b.emit("mul", [x, b.const("att", torch.randn(1, 2, 3))])
    fn = b.finish([b.emit("reduce_sum", [prod], axis=-1), prod])
    opt, _ = PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(g.csc))
    assert [n.op for n in opt.nodes if n.op in ("mul", "reduce_sum", "reduce_dot")] == ["mul", "reduce_sum"]
