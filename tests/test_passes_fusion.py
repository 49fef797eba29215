"""Unit tests of the fusion and reordering passes: what fires, what must not, and what explain() says."""

from __future__ import annotations

import pytest
import torch
from graphs import EDGE_CASE_GRAPHS, random_graph
from pass_models import TwoLayer, make
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, TensorType, evaluate
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager


def _ops(cm: gnncc.CompiledModel) -> list[str]:
    return [n.op for n in cm.ir.nodes if n.op not in ("const", "input", "reshape")]


def test_gat_is_one_attention_kernel_with_bias_and_activation_epilogue() -> None:
    graph = EDGE_CASE_GRAPHS["random"]()
    cm = gnncc.compile(make("gat", 12, 5), graph)
    assert _ops(cm).count("attention_spmm") == 2
    assert not {"sddmm", "edge_softmax", "spmm", "leaky_relu", "elu"} & set(_ops(cm))
    fused = [n for n in cm.ir.nodes if n.op == "attention_spmm"]
    assert [n.attrs["heads"] for n in fused] == ["concat", "mean"]
    assert list(fused[0].attrs["epilogue"]) == ["add[feat]", "elu[1.0]"]
    text = cm.explain()
    assert "fuse_attention: attention_spmm 0->2" in text and "no [E, H] scores or [E, H, C] messages" in text
    assert "fuse_epilogue:" in text and "round trip(s) saved" in text


def test_gatv2_shares_the_fused_attention() -> None:
    cm = gnncc.compile(make("gatv2", 12, 5), EDGE_CASE_GRAPHS["random"]())
    assert [n.attrs["score"] for n in cm.ir.nodes if n.op == "attention_spmm"] == ["gatv2", "gatv2"]
    assert "edge_softmax" not in _ops(cm) and "sddmm" not in _ops(cm)


def test_attention_needing_its_scores_elsewhere_is_not_fused() -> None:
    """The softmax weights are also an output: fusing would have to materialise them anyway."""
    g = random_graph(10, 30, seed=1)
    b = Builder()
    x = b.input("x", TensorType((10, 2, 3)))
    adj = b.emit("graph.adj", type=AdjType(10, 10, g.num_edges))
    a = b.emit("reduce_sum", [x], axis=-1)
    alpha = b.emit("edge_softmax", [adj, b.emit("leaky_relu", [b.emit("sddmm", [adj, a, a], op="add")], alpha=0.2)])
    out = b.emit("reshape", [b.emit("spmm", [adj, x, alpha], reduce="sum")], shape=[10, 6])
    fn = b.finish([out, alpha])
    opt, _ = PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(g.csc))
    assert "attention_spmm" not in [n.op for n in opt.nodes]


def test_epilogue_stops_at_shared_values_and_broadcasts_it_cannot_express() -> None:
    g = random_graph(8, 20, seed=2)
    b = Builder()
    x = b.input("x", TensorType((8, 4)))
    adj = b.emit("graph.adj", type=AdjType(8, 8, g.num_edges))
    h = b.emit("relu", [b.emit("spmm", [adj, x], reduce="sum")])
    shared = b.emit("sub", [b.const("c", torch.ones(8, 4)), h])  # h on the right of a sub: not foldable
    wide = b.emit("add", [b.emit("spmm", [adj, x], reduce="max"), b.const("w", torch.ones(3, 8, 4))])
    fn = b.finish([b.emit("add", [shared, h]), wide])
    opt, _ = PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(g.csc))
    ops = [n.op for n in opt.nodes]
    # relu folds, then its result is used twice: the chain stops; sub has it on the right; [3, 8, 4] grows the shape
    assert ops.count("fused_spmm") == 1 and ops.count("spmm") == 1 and {"sub", "add"} <= set(ops)
    assert list(next(n for n in opt.nodes if n.op == "fused_spmm").attrs["epilogue"]) == ["relu"]
    x_val = torch.randn(8, 4)
    for got, want in zip(evaluate(opt, {"x": x_val}), evaluate(fn, {"x": x_val}, g.csc)):
        assert torch.allclose(got, want)


@pytest.mark.parametrize("widths,expected", [((64, 8), "transform"), ((8, 64), "aggregate")])
def test_reorder_follows_the_feature_widths(widths: tuple[int, int], expected: str) -> None:
    fin, fout = widths
    graph = random_graph(300, 3000, seed=3)
    model = TwoLayer(GCNConv(fin, fout), GCNConv(fout, 4)).eval()
    cm = gnncc.compile(model, graph)
    first = next(n for n in cm.ir.nodes if n.op in ("matmul", "spmm", "fused_spmm"))
    assert first.op == ("matmul" if expected == "transform" else "spmm")
    if expected == "aggregate":
        assert "'conv1.lin.weight' [8->64] around spmm" in cm.explain() and "aggregate first" in cm.explain()
    x = torch.randn(300, fin)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4


def test_reorder_leaves_max_aggregation_alone() -> None:
    graph = random_graph(50, 400, seed=4)
    model = TwoLayer(SAGEConv(64, 4, aggr="max"), SAGEConv(4, 4, aggr="mean")).eval()
    cm = gnncc.compile(model, graph)
    spmm = next(n for n in cm.ir.nodes if n.op in ("spmm", "fused_spmm"))
    assert spmm.attrs["reduce"] == "max" and spmm.inputs[1].type.shape == (50, 64)  # still aggregate first


@pytest.mark.parametrize("eps,train_eps", [(0.0, False), (0.3, True)])
def test_gin_first_linear_moves_before_the_self_plus_neighbour_sum(eps: float, train_eps: bool) -> None:
    """(c x + sum_j x_j) W == c (x W) + sum_j (x W)_j: GIN's first Linear narrows 64 -> 8 features, so
    the aggregation runs at 8; its second Linear follows a relu and stays put."""
    graph = random_graph(200, 1500, seed=5)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))
    model = TwoLayer(GINConv(mlp, eps=eps, train_eps=train_eps), GCNConv(8, 4)).eval()
    cm = gnncc.compile(model, graph)
    first = next(n for n in cm.ir.nodes if n.op in ("matmul", "spmm", "fused_spmm"))
    assert first.op == "matmul" and first.inputs[1].type.shape == (64, 8)
    assert all(n.inputs[1].type.shape[1] <= 8 for n in cm.ir.nodes if n.op in ("spmm", "fused_spmm"))
    assert "1 transform(s) [64->8] moved in front of" in cm.explain()  # distribute_transforms
    x = torch.randn(200, 64)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4
    off = gnncc.compile(model, graph, passes={"distribute_transforms": False})
    assert next(n for n in off.ir.nodes if n.op in ("matmul", "spmm", "fused_spmm")).op != "matmul"


def test_gin_sum_feeding_a_widening_linear_stays_aggregate_first() -> None:
    graph = random_graph(100, 800, seed=6)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    cm = gnncc.compile(TwoLayer(GINConv(mlp), GCNConv(4, 4)).eval(), graph)
    first = next(n for n in cm.ir.nodes if n.op in ("matmul", "spmm", "fused_spmm"))
    assert first.op != "matmul" and "own features" not in cm.explain()


def test_sgconv_transform_moves_before_every_hop() -> None:
    data = gnncc.datasets.load("cora")
    cm = gnncc.compile(make("sgconv", data.x.shape[1], 7), data.graph)
    sparse = [n for n in cm.ir.nodes if n.op in ("spmm", "fused_spmm")]
    assert len(sparse) == 3 and all(n.output.type.shape == (2708, 7) for n in sparse)
    assert cm.explain().count("transform first") == 3


def test_graph_only_work_is_reported_as_hoisted() -> None:
    cm = gnncc.compile(make("gcn", 12, 5), EDGE_CASE_GRAPHS["random"]())
    assert "graph-only value(s) precomputed for this graph" in cm.explain()


def test_each_new_pass_can_be_switched_off() -> None:
    graph = EDGE_CASE_GRAPHS["random"]()
    model = TwoLayer(GATConv(12, 4, heads=2), SAGEConv(8, 3)).eval()
    off = gnncc.compile(model, graph, passes={"fuse_attention": False, "fuse_epilogue": False,
                                              "reorder_transform_aggregate": False})
    assert {"edge_softmax", "sddmm", "spmm"} <= set(_ops(off)) and "fused_spmm" not in _ops(off)
    assert [r.name for r in off.pass_records] == [p for p in DEFAULT_PIPELINE if p not in (
        "fuse_attention", "fuse_epilogue", "reorder_transform_aggregate")]
