"""``fuse_edge_messages``: which edge messages it fuses into ``fused_spmm`` and which it leaves, and, on
random programs, that the result is unchanged (reference interpreter) with the passes after it too."""

from __future__ import annotations

import torch
from graphs import random_graph
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gnncc.check import relative_error
from gnncc.ir import Builder, TensorType, evaluate, verify
from gnncc.passes import PASSES, PassContext

N, F = 24, 8
GRAPH = random_graph(N, 90, seed=41, self_loops=4, duplicates=6, isolated=3)
FOLLOWING = ("fuse_edge_messages", "fuse_epilogue", "schedule_tile_graph", "fuse_matmul_epilogue",
             "merge_sibling_matmuls")


def _edge_term(b: Builder, name: str = "e") -> object:
    return b.const(name, torch.randn(GRAPH.num_edges, F, generator=torch.Generator().manual_seed(3)))


def _fuse(fn):
    out = PASSES["fuse_edge_messages"].run(fn, PassContext(GRAPH.csc))
    verify(out)
    return out


def _same(fn, out) -> None:
    x = torch.randn(N, F, generator=torch.Generator().manual_seed(4))
    for a, b in zip(evaluate(out, {"x": x}), evaluate(fn, {"x": x})):
        assert relative_error(a, b) < 1e-5


def test_gine_message_becomes_one_fused_spmm() -> None:
    b = Builder()
    adj, x = b.const("A", GRAPH.csc), b.input("x", TensorType((N, F)))
    message = b.emit("relu", [b.emit("add", [_edge_term(b), b.emit("gather", [x, adj], end="src")])])
    fn = b.finish([b.emit("scatter", [message, adj], reduce="mean")])
    out = _fuse(fn)
    (fused,) = [n for n in out.nodes if n.op == "fused_spmm"]
    assert fused.attrs["edge_op"] == "add" and fused.attrs["message_act"] == "relu"
    assert not any(n.op in ("gather", "scatter", "relu", "add") for n in out.nodes)
    _same(fn, out)


def test_leaky_relu_keeps_its_slope_and_an_activation_alone_fuses() -> None:
    b = Builder()
    adj, x = b.const("A", GRAPH.csc), b.input("x", TensorType((N, F)))
    act = b.emit("leaky_relu", [b.emit("gather", [x, adj], end="src")], alpha=0.3)
    fn = b.finish([b.emit("scatter", [act, adj], reduce="max")])
    out = _fuse(fn)
    (fused,) = [n for n in out.nodes if n.op == "fused_spmm"]
    assert fused.attrs["message_act"] == "leaky_relu[0.3]" and not fused.attrs["weighted"]
    _same(fn, out)


def test_a_destination_row_subtracted_fuses_as_dst_op() -> None:
    """PNA's two-pass variance ``mean((x_j + e_ji - mu_i)^2)``: one fused_spmm reading ``mu`` as destination rows."""
    b = Builder()
    adj, x = b.const("A", GRAPH.csc), b.input("x", TensorType((N, F)))
    mu = b.emit("spmm", [adj, x], reduce="mean")
    deviation = b.emit("sub", [b.emit("add", [b.emit("gather", [x, adj], end="src"), _edge_term(b)]),
                               b.emit("gather", [mu, adj], end="dst")])
    fn = b.finish([b.emit("scatter", [b.emit("square", [deviation]), adj], reduce="mean")])
    out = _fuse(fn)
    variance = [n for n in out.nodes if n.op == "fused_spmm" and n.attrs["dst_op"] == "sub"]
    assert len(variance) == 1 and variance[0].attrs["message_act"] == "square" and variance[0].attrs["weighted"]
    assert variance[0].inputs[3].node.op == "spmm"  # mu, read once per row
    assert not any(n.op in ("gather", "scatter", "square", "sub", "add") for n in out.nodes), str(out)
    _same(fn, out)


def test_messages_with_another_use_or_other_shapes_are_left() -> None:
    b = Builder()
    adj, x = b.const("A", GRAPH.csc), b.input("x", TensorType((N, F)))
    gathered = b.emit("gather", [x, adj], end="src")
    shared = b.emit("add", [gathered, _edge_term(b)])
    kept = b.emit("scatter", [b.emit("relu", [shared]), adj], reduce="sum")  # `shared` read twice
    target_end = b.emit("relu", [b.emit("add", [b.emit("gather", [x, adj], end="dst"), _edge_term(b, "f")])])
    by_target = b.emit("scatter", [target_end, adj], reduce="sum")  # gathered at the target: not a message
    plain = b.emit("scatter", [b.emit("gather", [x, adj], end="src"), adj], reduce="sum")  # nothing to fuse
    fn = b.finish([kept, shared, by_target, plain])
    assert _fuse(fn) is fn


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])


@st.composite
def message_programs(draw):
    """Aggregations of ``act(x_j [+ e] [- d_i])`` with random activations, reductions and edge terms (a constant,
    or computed from the rows of either end), some messages read twice, then a transform."""
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    b = Builder()
    adj, x = b.const("A", GRAPH.csc), b.input("x", TensorType((N, F)))
    rows = [x, b.emit("tanh", [x])]
    outs = []
    for i in range(draw(st.integers(1, 3))):
        message = b.emit("gather", [draw(st.sampled_from(rows)), adj], end="src")
        edge_kind = draw(st.sampled_from(["none", "const", "dst_rows"]))
        if edge_kind == "const":
            message = b.emit("add", [message, b.const(f"e{i}", torch.randn(GRAPH.num_edges, F, generator=gen))])
        elif edge_kind == "dst_rows":
            message = b.emit("add", [b.emit("gather", [draw(st.sampled_from(rows)), adj], end="dst"), message])
        if draw(st.booleans()):  # a destination row subtracted (fused as dst_op="sub")
            message = b.emit("sub", [message, b.emit("gather", [draw(st.sampled_from(rows)), adj], end="dst")])
        act = draw(st.sampled_from(["", "relu", "elu", "sigmoid"]))
        if act:
            message = b.emit(act, [message])
        reduced = b.emit("scatter", [message, adj], reduce=draw(st.sampled_from(["sum", "mean", "max"])))
        if draw(st.booleans()):
            reduced = b.emit("add", [reduced, x])
        outs.append(reduced)
        if draw(st.integers(0, 4)) == 0:  # the message itself is an output too
            outs.append(message)
    w = b.const("W", torch.randn(F, draw(st.sampled_from([3, 16])), generator=gen))
    outs[0] = b.emit("matmul", [outs[0], w])
    return b.finish(outs)


@SETTINGS
@given(message_programs())
def test_fusion_and_the_passes_after_it_keep_the_result(fn) -> None:
    out = fn
    for name in FOLLOWING:
        out = PASSES[name].run(out, PassContext(GRAPH.csc))
        verify(out)
    _same(fn, out)
