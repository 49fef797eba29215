"""simplify_arithmetic: arithmetic by a neutral model constant goes, anything else stays."""

from __future__ import annotations

import torch
from graphs import random_graph
from pass_models import make

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, TensorType, evaluate
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager


def _optimise(fn, graph):
    opt, _ = PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(graph.csc))
    return opt


def test_gin_with_pyg_default_eps_has_no_mul() -> None:
    graph = random_graph(30, 90, seed=1)
    x = torch.randn(30, 12, generator=torch.Generator().manual_seed(2))
    for name, muls in (("gin_eps0", 0), ("gin", 2)):  # eps 0: 1 + eps is one; eps 0.2 keeps its scaling
        model = make(name, 12, 5)
        cm = gnncc.compile(model, graph)
        assert [n.op for n in cm.ir.nodes].count("mul") == muls, cm.explain()
        with torch.no_grad():
            assert relative_error(cm(x), model(x, graph.edge_index)) < 1e-4
    assert "mul by one on f32[30, 12] dropped" in gnncc.compile(make("gin_eps0", 12, 5), graph).explain()


def _scaled(graph, factor: torch.Tensor, op: str, returned: bool, width: int):
    b = Builder()
    x = b.input("x", TensorType((graph.num_nodes, width)))
    adj = b.emit("graph.adj", type=AdjType(graph.num_nodes, graph.num_nodes, graph.num_edges))
    y = b.emit(op, [x, b.const("c", factor)])
    out = b.emit("spmm", [adj, y], reduce="sum")
    return b.finish([out, y] if returned else [out])


def test_neutral_constants_only() -> None:
    graph = random_graph(8, 20, seed=3)
    cases = [
        (torch.ones(1, 4), "mul", False, 4, 0),  # dropped
        (torch.zeros(4), "add", False, 4, 0),
        (torch.ones(1), "div", False, 4, 0),
        (torch.full((1, 4), 2.0), "mul", False, 4, 1),  # not neutral
        (torch.ones(1, 4), "mul", False, 1, 1),  # broadcasts x [8, 1] to [8, 4]: not the same value
        (torch.ones(1, 4), "mul", True, 4, 1),  # the product is an output itself
    ]
    for factor, op, returned, width, left in cases:
        x = torch.randn(8, width)
        fn = _scaled(graph, factor, op, returned, width)
        opt = _optimise(fn, graph)
        assert sum(n.op == op for n in opt.nodes) == left, (factor.shape, op, returned, width)
        got, want = evaluate(opt, {"x": x}, graph.csc), evaluate(fn, {"x": x}, graph.csc)
        assert all(relative_error(a, b) < 1e-6 for a, b in zip(got, want))


def test_a_per_graph_constant_of_ones_is_not_trusted() -> None:
    """Edge weights that are all 1 on this graph (every degree 1 here) may not be on the next one a
    served library gets, so the product by them stays."""
    src = torch.arange(6)
    graph = gnncc.Graph(torch.stack([src, (src + 1) % 6]), 6)  # a ring: every in-degree 1
    b = Builder()
    x = b.input("x", TensorType((6, 4)))
    adj = b.emit("graph.adj", type=AdjType(6, 6, 6))
    ones = b.emit("reshape", [b.emit("scatter", [b.emit("graph.edge_full", [adj], value=1.0), adj], reduce="sum")],
                  shape=[6, 1])
    fn = b.finish([b.emit("spmm", [adj, b.emit("mul", [x, ones])], reduce="sum")])
    opt = _optimise(fn, graph)
    assert [n.op for n in opt.nodes].count("mul") == 1
