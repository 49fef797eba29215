"""Property tests of the algebraic passes: on random IR programs, ``distribute_transforms``,
``factor_aggregations`` and ``hoist_edge_transforms`` (alone and in pipeline order) give what the
program gave, by the reference interpreter, and never make it invalid.

Hypothesis draws a DAG of node-level linear ops over ``x`` (sum/mean SpMM with or without edge
values, add, sub, scaling by a scalar or a per-row value) with nonlinear ops between them, and
transforms of random values that narrow or widen the features; and, for the edge pass, edge
tensors built from gathers of either end, SDDMM adds, add/sub/neg/scaling and feature concats.
Runs are derandomized, so CI is reproducible.
"""

from __future__ import annotations

import torch
from graphs import random_graph
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gnncc.check import relative_error
from gnncc.ir import Builder, TensorType, evaluate, verify
from gnncc.passes import PASSES, PassContext

N, F = 24, 16
GRAPH = random_graph(N, 90, seed=31, self_loops=4, duplicates=6, isolated=3)
OTHER = random_graph(N, 70, seed=32)
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
GROUPS = (("distribute_transforms",), ("factor_aggregations",), ("distribute_transforms", "factor_aggregations"),
          ("hoist_edge_transforms",))


def _run_all(fn) -> None:
    """Each pass group on ``fn``: valid IR with the same outputs."""
    x = torch.randn(N, F, generator=torch.Generator().manual_seed(7))
    want = evaluate(fn, {"x": x})
    for group in GROUPS:
        out = fn
        for name in group:
            out = PASSES[name].run(out, PassContext(GRAPH.csc))
            verify(out)
        for a, b in zip(evaluate(out, {"x": x}), want):
            assert relative_error(a, b) < 1e-4, (group, str(fn), str(out))


@st.composite
def node_programs(draw):
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    b = Builder()
    adjs = [b.const("A", GRAPH.csc), b.const("B", OTHER.csc)]
    edge_values = {0: b.const("wA", torch.rand(GRAPH.num_edges, generator=gen)),
                   1: b.const("wB", torch.rand(OTHER.num_edges, generator=gen))}
    values = [b.input("x", TensorType((N, F)))]
    for _ in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(["spmm", "spmm", "add", "sub", "scalar", "row", "relu", "aggregations"]))
        a = draw(st.sampled_from(values))
        if kind == "aggregations":  # a sum of two aggregations over one adjacency: what factoring merges
            which = draw(st.integers(0, 1))
            weights = [edge_values[which]] if draw(st.booleans()) else []
            other = draw(st.sampled_from(values))
            terms = [b.emit("spmm", [adjs[which], v, *weights], reduce="sum") for v in (a, other)]
            values.append(b.emit(draw(st.sampled_from(["add", "sub"])), terms))
        elif kind == "spmm":
            which = draw(st.integers(0, 1))
            weights = [edge_values[which]] if draw(st.booleans()) else []
            values.append(b.emit("spmm", [adjs[which], a, *weights], reduce=draw(st.sampled_from(["sum", "mean"]))))
        elif kind in ("add", "sub"):
            values.append(b.emit(kind, [a, draw(st.sampled_from(values))]))
        elif kind == "scalar":
            c = b.const(f"c{len(values)}", torch.tensor(draw(st.sampled_from([2.0, -0.5, 3.0]))))
            values.append(b.emit("mul", [c, a] if draw(st.booleans()) else [a, c]))
        elif kind == "row":
            values.append(b.emit("mul", [a, b.const(f"r{len(values)}", torch.rand(N, 1, generator=gen))]))
        else:
            values.append(b.emit("relu", [a]))
    outs = []
    for i in range(draw(st.integers(1, 3))):
        width = draw(st.sampled_from([2, 3, 24]))  # narrowing, and widening
        w = b.const(f"W{i}", torch.randn(F, width, generator=gen))
        outs.append(b.emit("matmul", [draw(st.sampled_from(values)), w]))
    if draw(st.booleans()):  # a wide value that is also an output
        outs.append(draw(st.sampled_from(values)))
    return b.finish(outs)


@SETTINGS
@given(node_programs())
def test_node_level_passes_keep_the_result(fn) -> None:
    _run_all(fn)


@st.composite
def edge_programs(draw):
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    b = Builder()
    adj = b.const("A", GRAPH.csc)
    x = b.input("x", TensorType((N, F)))
    rows = [x, b.emit("tanh", [x])]

    def edge_term(depth: int):
        kind = draw(st.sampled_from(["gather", "gather", "sddmm", "add", "sub", "neg", "scale"] if depth < 2
                                    else ["gather", "sddmm"]))
        if kind == "gather":
            return b.emit("gather", [draw(st.sampled_from(rows)), adj], end=draw(st.sampled_from(["src", "dst"])))
        if kind == "sddmm":
            return b.emit("sddmm", [adj, draw(st.sampled_from(rows)), draw(st.sampled_from(rows))], op="add")
        if kind in ("add", "sub"):
            return b.emit(kind, [edge_term(depth + 1), edge_term(depth + 1)])
        if kind == "neg":
            return b.emit("neg", [edge_term(depth + 1)])
        return b.emit("mul", [edge_term(depth + 1), b.const(f"s{depth}", torch.tensor(0.5))])

    parts = [edge_term(0) for _ in range(draw(st.integers(1, 3)))]
    edge = parts[0] if len(parts) == 1 else b.emit("concat", parts, axis=-1)
    w = b.const("W", torch.randn(edge.type.shape[1], draw(st.sampled_from([2, 5])), generator=gen))
    out = b.emit("scatter", [b.emit("relu", [b.emit("matmul", [edge, w])]), adj], reduce="sum")
    return b.finish([out])


@SETTINGS
@given(edge_programs())
def test_edge_transform_hoisting_keeps_the_result(fn) -> None:
    _run_all(fn)
