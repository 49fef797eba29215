"""hoist_edge_transforms: a transform of gathered edge features becomes node products and one SDDMM, with
the same result, no ``[E, F]`` input to the edge MLP, and nothing hoisted that the algebra does not allow."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg
from graphs import random_graph
from pass_models import TwoLayer
from torch import nn

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, TensorType, evaluate
from gnncc.passes import PASSES, PassContext, PassManager
from gnncc.passes.fold import GraphProgram

N, F, H = 30, 10, 4
GRAPH = random_graph(N, 150, seed=21, self_loops=3, duplicates=6, isolated=2)
GEN = torch.Generator().manual_seed(5)


def _edge_mlp_input(kind: str, weight_name: str = "w"):
    """``edge @ W`` for an edge tensor built from gathered rows of ``x`` ``[N, F]`` as ``kind`` says."""
    b = Builder()
    x = b.input("x", TensorType((N, F)))
    adj = b.const("adj", GRAPH.csc)
    x_i = b.emit("gather", [x, adj], end="dst")
    x_j = b.emit("gather", [x, adj], end="src")
    y = b.emit("tanh", [x])
    if kind == "edge_conv":  # [x_i, x_j - x_i]
        edge = b.emit("concat", [x_i, b.emit("sub", [x_j, x_i])], axis=-1)
    elif kind == "scaled_sddmm":  # [0.5 (y_j + x_i), -x_j]
        half = b.emit("mul", [b.emit("sddmm", [adj, y, x], op="add"), b.const("half", torch.tensor(0.5))])
        edge = b.emit("concat", [half, b.emit("neg", [x_j])], axis=-1)
    elif kind == "source_only":
        edge = b.emit("concat", [x_j, b.emit("gather", [y, adj], end="src")], axis=-1)
    else:  # a product of gathers is not linear in them
        edge = b.emit("concat", [x_i, b.emit("mul", [x_j, x_i])], axis=-1)
    w = b.const(weight_name, torch.randn(edge.type.shape[1], H, generator=GEN))
    return b.finish([b.emit("relu", [b.emit("matmul", [edge, w])])])


def _run(fn, per_graph: tuple[str, ...] = ()):
    ctx = PassContext(GRAPH.csc)
    if per_graph:
        ctx.graph_program = GraphProgram(Builder().finish([]), per_graph)
    return PASSES["hoist_edge_transforms"].run(fn, ctx), ctx.notes.get("hoist_edge_transforms", [])


@pytest.mark.parametrize("kind,ends", [("edge_conv", {"sddmm"}), ("scaled_sddmm", {"sddmm"}),
                                       ("source_only", {"gather"})])
def test_edge_transform_becomes_node_products(kind: str, ends: set[str]) -> None:
    fn = _edge_mlp_input(kind)
    hoisted, notes = _run(fn)
    ops = [n.op for n in hoisted.nodes]
    assert notes and "concat" not in ops and ends <= set(ops)
    assert all(n.inputs[0].type.shape[0] == N for n in hoisted.nodes if n.op == "matmul")
    x = torch.randn(N, F, generator=GEN)
    assert relative_error(evaluate(hoisted, {"x": x})[0], evaluate(fn, {"x": x})[0]) < 1e-5


def test_a_per_edge_term_keeps_its_own_product() -> None:
    """``[x_i, x_j * x_i] @ W``: the gathered half runs on the nodes; the product of gathers is no gather
    but a per-edge term, transformed by its own block of ``W`` edge by edge."""
    fn = _edge_mlp_input("product")
    hoisted, notes = _run(fn)
    ops = [n.op for n in hoisted.nodes]
    assert notes and "concat" not in ops
    assert sorted(n.inputs[0].type.shape[0] for n in hoisted.nodes if n.op == "matmul") == [N, GRAPH.num_edges]
    x = torch.randn(N, F, generator=GEN)
    assert relative_error(evaluate(hoisted, {"x": x})[0], evaluate(fn, {"x": x})[0]) < 1e-5


def test_a_per_graph_edge_term_is_transformed_once_per_graph(tmp_path) -> None:
    """``[x_i, x_j, e_ji] @ W`` with edge features ``e`` (graph data): ``e W_e`` joins the graph program, so
    no per-call matmul reads the edges, and a served graph gets its own."""
    D = 3
    graph = gnncc.Graph(GRAPH.edge_index, N, edge_attr=torch.randn(GRAPH.num_edges, D, generator=GEN))
    b = Builder()
    x = b.input("x", TensorType((N, F)))
    adj = b.emit("graph.adj", type=AdjType(N, N, GRAPH.num_edges))
    edge = b.emit("concat", [b.emit("gather", [x, adj], end="dst"), b.emit("gather", [x, adj], end="src"),
                             b.emit("graph.edge_attr", [adj], width=D)], axis=-1)
    w = b.const("w", torch.randn(2 * F + D, H, generator=GEN))
    fn = b.finish([b.emit("scatter", [b.emit("matmul", [edge, w]), adj], reduce="sum")])
    ctx = PassContext(graph.csc)
    hoisted, _ = PassManager(["fold_graph_constants", "hoist_edge_transforms"]).run(fn, ctx)
    assert all(n.inputs[0].type.shape[0] == N for n in hoisted.nodes if n.op == "matmul"), str(hoisted)
    assert ctx.graph_program.names[-1].endswith("edge_product")
    x = torch.randn(N, F, generator=GEN)
    assert relative_error(evaluate(hoisted, {"x": x})[0], evaluate(fn, {"x": x}, graph.csc)[0]) < 1e-5
    # the graph program recomputes e W_e from another graph's edge features
    other = gnncc.Graph(GRAPH.edge_index, N, edge_attr=torch.randn(GRAPH.num_edges, D, generator=GEN))
    *_, product = evaluate(ctx.graph_program.fn, {}, other.csc)
    assert torch.allclose(product, other.csc.edge_values @ fn.constants["w"][2 * F:], atol=1e-6)


@pytest.mark.parametrize("why,fn,per_graph", [
    ("a per-graph weight", _edge_mlp_input("edge_conv", "per_graph.1.w"), ("per_graph.1.w",)),
])
def test_what_is_not_hoisted(why: str, fn, per_graph) -> None:
    hoisted, notes = _run(fn, per_graph)
    assert hoisted is fn and not notes, why


def test_edge_conv_on_cora_holds_no_edge_tensor_of_the_input_width() -> None:
    data = gnncc.datasets.load("cora")
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(2 * data.x.shape[1], 8), nn.ReLU(), nn.Linear(8, 7))
    model = TwoLayer(pyg.EdgeConv(mlp), pyg.GCNConv(7, 7)).eval()
    cm = gnncc.compile(model, data.graph)
    with torch.no_grad():
        assert relative_error(cm(data.x), model(data.x, data.graph.edge_index)) < 1e-4
    edge_bytes = data.graph.num_edges * data.x.shape[1] * 4
    assert cm.executor.plan.total_bytes < edge_bytes, cm.explain()
    assert "node products gathered at" in cm.explain()
