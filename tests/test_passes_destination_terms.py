"""``factor_destination_terms``: what it takes out of aggregations and what it leaves; the weights it
adds to the graph program are recomputed for a served graph; on random message programs the result is
unchanged (reference interpreter), with the passes after it too."""

from __future__ import annotations

import torch
from graphs import random_graph
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pass_models import make

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, Function, TensorType, evaluate
from gnncc.passes import DEFAULT_PIPELINE, PASSES, PassContext, PassManager

NAME = "factor_destination_terms"
N, F = 24, 6
GRAPH = random_graph(N, 90, seed=43, self_loops=4, duplicates=6, isolated=3)  # 3 nodes without in-edges
E = GRAPH.num_edges
GEN = torch.Generator().manual_seed(6)
FOLLOWING = DEFAULT_PIPELINE[DEFAULT_PIPELINE.index(NAME):]


def _start() -> tuple[Builder, object, object]:
    b = Builder()
    return b, b.emit("graph.adj", type=AdjType(N, N, E)), b.input("x", TensorType((N, F)))


def _const(b: Builder, name: str, *shape: int):
    return b.const(name, torch.randn(*shape, generator=GEN))


def _run(fn: Function, passes: tuple[str, ...] = (NAME,)) -> tuple[Function, PassContext]:
    """``fn`` folded (the pass reads per-graph adjacencies), then through ``passes``."""
    ctx = PassContext(GRAPH.csc)
    out, _ = PassManager(["fold_graph_constants", *passes]).run(fn, ctx)
    return out, ctx


def _same(fn: Function, out: Function, tol: float = 1e-5) -> None:
    """Same values, up to ``tol`` of the largest (terms may cancel to about 0, where relative errors mislead)."""
    x = torch.randn(N, F, generator=torch.Generator().manual_seed(7))
    for got, want in zip(evaluate(out, {"x": x}), evaluate(fn, {"x": x}, GRAPH.csc)):
        assert (got - want).abs().max() <= tol * max(1.0, want.abs().max()), f"{fn}\n{out}"


def _edge_values(fn: Function) -> list[str]:
    """Values with one row per edge (besides the adjacency)."""
    return [f"{n.op} -> {n.output.type}" for n in fn.nodes
            if isinstance(n.output.type, TensorType) and n.output.type.shape[:1] == (E,)]


def _pna_messages(b: Builder, adj, x):
    """``x_j W_s + x_i W_d + b``, as hoist_edge_transforms leaves PNA's first pre-NN Linear."""
    s, d = (b.emit("matmul", [x, _const(b, name, F, F)]) for name in ("w_src", "w_dst"))
    return b.emit("add", [b.emit("sddmm", [adj, s, d], op="add"), _const(b, "bias", F)])


def test_every_pna_aggregator_reads_node_rows_alone() -> None:
    b, adj, x = _start()
    m = _pna_messages(b, adj, x)
    mean = b.emit("scatter", [m, adj], reduce="mean")
    minimum = b.emit("neg", [b.emit("scatter", [b.emit("neg", [m]), adj], reduce="max")])
    squares = b.emit("scatter", [b.emit("mul", [m, m]), adj], reduce="mean")
    variance = b.emit("sub", [squares, b.emit("mul", [mean, mean])])
    outputs = [b.emit("scatter", [m, adj], reduce="sum"), mean, minimum, b.emit("scatter", [m, adj], reduce="max"),
               variance, b.emit("scatter", [b.emit("mul", [m, m]), adj], reduce="sum")]
    fn = b.finish(outputs)
    out, ctx = _run(fn, (NAME, "fuse_edge_messages"))
    assert _edge_values(out) == [], str(out)
    assert {n.attrs["reduce"] for n in out.nodes if n.op == "spmm"} == {"sum", "mean", "max"}
    assert [n for n in ctx.graph_program.names if "in_degree" in n or "has_in_edges" in n]
    notes = ctx.notes[NAME]
    assert sum("var(m)" in n for n in notes) == 1 and not any("mean(m^2)" in n for n in notes), notes
    # the variance: mean((x_j W_s - mu_i)^2), one pass over the edges centred on the mean aggregation's rows
    (variance,) = [n for n in out.nodes if n.op == "fused_spmm"]
    assert variance.attrs["dst_op"] == "sub" and variance.attrs["message_act"] == "square"
    assert variance.attrs["reduce"] == "mean" and variance.inputs[1] is variance.inputs[2].node.inputs[1]
    assert variance.inputs[2].node.op == "spmm" and variance.inputs[2].node.attrs["reduce"] == "mean"
    _same(fn, out)


def _mean_of(rows: torch.Tensor) -> torch.Tensor:
    """Per node, the mean of its in-edges' ``rows`` (0 without in-edges), in the dtype of ``rows``."""
    dst = GRAPH.csc.dst_ids()
    count = torch.bincount(dst, minlength=N).clamp_min(1).to(rows.dtype)[:, None]
    return torch.zeros(N, F, dtype=rows.dtype).index_add_(0, dst, rows) / count


def test_a_variance_keeps_the_digits_that_messages_share() -> None:
    """Rows ``1000 + N(0, 0.1)`` plus a destination term 1000x larger: float32's ``mean(m^2) - mean(m)^2`` (PyG)
    keeps no digit of the variance, nor does ``mean(R^2) - mean(R)^2`` of the source rows alone (what the pass
    wrote before); the two-pass ``mean((R - mean(R))^2)`` it writes keeps all but the last few (the kernels:
    ``test_fusion_kernels.py``)."""
    b, adj, x = _start()
    big = b.emit("mul", [b.emit("gather", [x, adj], end="dst"), b.const("thousand", torch.tensor(1000.0))])
    m = b.emit("add", [b.emit("gather", [x, adj], end="src"), big])
    mean = b.emit("scatter", [m, adj], reduce="mean")
    fn = b.finish([b.emit("sub", [b.emit("scatter", [b.emit("mul", [m, m]), adj], reduce="mean"),
                                  b.emit("mul", [mean, mean])])])
    out, _ = _run(fn, FOLLOWING)
    assert [n.attrs["dst_op"] for n in out.nodes if n.op == "fused_spmm"] == ["sub"], str(out)
    x = 1000 + 0.1 * torch.randn(N, F, generator=torch.Generator().manual_seed(8))
    rows = x[GRAPH.csc.src_ids()]
    exact = _mean_of(rows.double() ** 2) - _mean_of(rows.double()) ** 2
    one_pass = _mean_of(rows * rows) - _mean_of(rows) ** 2
    (rewritten,), (original,) = evaluate(out, {"x": x}), evaluate(fn, {"x": x}, GRAPH.csc)
    assert relative_error(rewritten, exact) < 1e-5
    assert relative_error(one_pass, exact) > 1e-2 and relative_error(original, exact) > 1e-2  # what it avoids


def test_an_edge_term_stays_per_edge_and_fuses_into_the_aggregation() -> None:
    """GINE-style ``x_j + e + x_i W``: ``x_i W`` is taken out, ``x_j + e`` becomes one fused_spmm; the edge
    term is the only ``[E, F]`` value left."""
    b, adj, x = _start()
    m = b.emit("add", [b.emit("add", [b.emit("gather", [x, adj], end="src"), _const(b, "e", E, F)]),
                       b.emit("gather", [b.emit("tanh", [x]), adj], end="dst")])
    fn = b.finish([b.emit("scatter", [m, adj], reduce="max")])
    out, _ = _run(fn, FOLLOWING)
    assert _edge_values(out) == [f"const -> f32[{E}, {F}]"], str(out)
    (fused,) = [n for n in out.nodes if n.op == "fused_spmm"]
    assert fused.attrs["edge_op"] == "add"
    _same(fn, out)


def test_messages_it_cannot_take_apart_are_left() -> None:
    b, adj, x = _start()
    reverse = b.const("reverse", gnncc.Graph(GRAPH.edge_index.flip(0), N).csc)
    x_j = b.emit("gather", [x, adj], end="src")
    outputs = [
        # through an activation
        b.emit("scatter", [b.emit("relu", [_pna_messages(b, adj, x)]), adj], reduce="sum"),
        # a maximum of squares
        b.emit("scatter", [b.emit("mul", [_pna_messages(b, adj, x)] * 2), adj], reduce="max"),
        # the destination rows of another adjacency: per-edge values here, not per-destination
        b.emit("scatter", [b.emit("add", [x_j, b.emit("gather", [x, reverse], end="dst")]), adj], reduce="mean"),
        # side by side, not summed
        b.emit("scatter", [b.emit("concat", [x_j, b.emit("gather", [x, adj], end="dst")], axis=-1), adj],
               reduce="sum"),
        # no destination term at all
        b.emit("scatter", [b.emit("add", [x_j, _const(b, "e", E, F)]), adj], reduce="sum"),
    ]
    fn = b.finish(outputs)
    out, ctx = _run(fn)
    assert NAME not in ctx.notes
    assert str(out) == str(PASSES["fold_graph_constants"].run(fn, PassContext(GRAPH.csc)))


def test_a_served_graph_gets_its_own_degrees(tmp_path) -> None:
    """The in-degrees and has-in-edges weights join the graph program: a library compiled on one graph
    and served on another (other degrees, nodes without in-edges) still matches PyG."""
    model = make("pna", 8, 3)
    compiled_on = random_graph(40, 160, seed=1)
    served = random_graph(40, 260, seed=2, hub=True, isolated=6, self_loops=5)
    cm = gnncc.compile(model, compiled_on, target="cpu")
    assert any(name.endswith("has_in_edges") for name in cm.graph_program.names)
    lib = gnncc.load(cm.export(tmp_path / "pna.so"))
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        exact = model.double()(x.double(), served.edge_index).float()
    assert relative_error(lib(x, served), exact) < 1e-4


SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
AGGREGATIONS = ("sum", "mean", "max", "min", "sum_of_squares", "mean_of_squares", "variance")


@st.composite
def message_programs(draw):
    """One aggregation of ``x_j`` plus random terms: rows gathered at either end (or both, by an SDDMM), a
    bias, an edge constant or a computed per-edge value, each scaled, negated or subtracted."""
    b, adj, x = _start()
    y = b.emit("tanh", [x])
    makers = {
        "src": lambda: b.emit("gather", [draw(st.sampled_from([x, y])), adj], end="src"),
        "dst": lambda: b.emit("gather", [draw(st.sampled_from([x, y])), adj], end="dst"),
        "sddmm": lambda: b.emit("sddmm", [adj, x, y], op="add"),
        "bias": lambda: _const(b, "bias", *draw(st.sampled_from([(F,), (1, F)]))),
        "edge_constant": lambda: _const(b, "e", E, F),
        "computed": lambda: b.emit("relu", [b.emit("gather", [x, adj], end="src")]),
    }
    kinds = draw(st.lists(st.sampled_from(sorted(makers)), min_size=1, max_size=4))
    terms = [makers[kind]() for kind in kinds]
    edge_terms = [b.emit("gather", [x, adj], end="src"), *(t for t in terms if t.type.shape[0] == E)]
    m = edge_terms[0]
    for term in edge_terms[1:]:
        if draw(st.booleans()):
            term = b.emit("mul", [term, b.const("scale", torch.tensor(draw(st.sampled_from([-2.0, 0.5, 3.0]))))])
        m = b.emit(draw(st.sampled_from(["add", "sub"])), draw(st.permutations([m, term])))
    for row in (t for t in terms if t.type.shape[0] != E):
        m = b.emit(draw(st.sampled_from(["add", "sub"])), draw(st.permutations([m, row])))
    if draw(st.booleans()):
        m = b.emit("neg", [m])
    aggregation = draw(st.sampled_from(AGGREGATIONS))
    if aggregation in ("sum", "mean", "max"):
        out = b.emit("scatter", [m, adj], reduce=aggregation)
    elif aggregation == "min":
        out = b.emit("neg", [b.emit("scatter", [b.emit("neg", [m]), adj], reduce="max")])
    elif aggregation == "variance":
        mean = b.emit("scatter", [m, adj], reduce="mean")
        out = b.emit("sub", [b.emit("scatter", [b.emit("mul", [m, m]), adj], reduce="mean"),
                             b.emit("mul", [mean, mean])])
    else:
        out = b.emit("scatter", [b.emit("mul", [m, m]), adj], reduce=aggregation.removesuffix("_of_squares"))
    destination = any(k in ("dst", "sddmm", "bias") for k in kinds)
    return b.finish([out]), destination


@SETTINGS
@given(message_programs())
def test_random_message_programs_keep_their_value(program) -> None:
    fn, has_destination_term = program
    out, ctx = _run(fn, FOLLOWING)
    assert has_destination_term or NAME not in ctx.notes, f"{fn}\n{out}"  # (such terms may also cancel)
    _same(fn, out, tol=1e-4)
