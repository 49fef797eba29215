"""The IR: type inference, verifier, printer, interpreter semantics."""

import pytest
import torch

from gnncc.errors import IRError
from gnncc.ir import AdjType, Builder, TensorType, evaluate, print_function, verify
from gnncc.ir.adjacency import Adjacency


def _gcn_like():
    b = Builder()
    x = b.input("x", TensorType((4, 3)))
    adj = b.emit("graph.adj", type=AdjType(4, 4, 5))
    a1 = b.emit("graph.add_self_loops", [adj], nnz_symbol=b.fresh_symbol())
    w = b.const("w", torch.ones(3, 2))
    h = b.emit("matmul", [x, w])
    m = b.emit("gather", [h, a1], end="src")
    return b, b.emit("scatter", [m, a1], reduce="mean")


def test_symbolic_edge_dims_and_text_form():
    b, out = _gcn_like()
    fn = b.finish([out])
    verify(fn)
    assert print_function(fn) == "\n".join([
        "func @main(%x: f32[4, 3]) -> (f32[4, 2]) {",
        "  %0 = graph.adj() : adj[4->4, nnz=5]",
        "  %1 = graph.add_self_loops(%0) {keep_existing=False} : adj[4->4, nnz=E0]",
        '  %2 = const "w" : f32[3, 2]',
        "  %3 = matmul(%x, %2) : f32[4, 2]",
        '  %4 = gather(%3, %1) {end="src"} : f32[E0, 2]',
        '  %5 = scatter(%4, %1) {reduce="mean"} : f32[4, 2]',
        "  return %5",
        "}",
    ])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda b, x, a: b.emit("matmul", [x, x]), r"matmul: cannot multiply f32\[4, 3\] by f32\[4, 3\]"),
        (lambda b, x, a: b.emit("gather", [x, a], end="middle"), "end must be 'src' or 'dst'"),
        (lambda b, x, a: b.emit("scatter", [x, a], reduce="sum"), "leading dimension of nnz=5"),
        (lambda b, x, a: b.emit("spmm", [a, x], reduce="median"), "reduce must be one of"),
        (lambda b, x, a: b.emit("add", [x, b.const("c", torch.ones(2))]), "do not broadcast"),
        (lambda b, x, a: b.emit("reshape", [x], shape=[5, -1]), "cannot reshape"),
        (lambda b, x, a: b.emit("relu", [x], beta=1), "unknown attribute"),
        (lambda b, x, a: b.emit("nope", [x]), "unknown op 'nope'"),
        (lambda b, x, a: b.emit("concat", [x, b.const("c", torch.ones(3, 3))], axis=1), "disagree off axis"),
    ],
)
def test_type_errors_name_the_op(build, message):
    b = Builder()
    x = b.input("x", TensorType((4, 3)))
    a = b.emit("graph.adj", type=AdjType(4, 4, 5))
    with pytest.raises(IRError, match=message):
        build(b, x, a)


def test_verifier_catches_tampered_types():
    b, out = _gcn_like()
    fn = b.finish([out])
    fn.nodes[4].output.type = TensorType((4, 9))
    with pytest.raises(IRError, match="recorded type"):
        verify(fn)


def test_verifier_catches_use_before_def():
    b, out = _gcn_like()
    fn = b.finish([out])
    fn.nodes[3], fn.nodes[4] = fn.nodes[4], fn.nodes[3]
    with pytest.raises(IRError, match="used before it is defined"):
        verify(fn)


def test_reshape_carries_symbolic_leading_dim():
    b = Builder()
    adj = b.emit("graph.add_self_loops", [b.emit("graph.adj", type=AdjType(3, 3, 2))], nnz_symbol="E7")
    s = b.emit("graph.edge_full", [adj])
    r = b.emit("reshape", [s], shape=[-1, 1])
    assert r.type == TensorType(("E7", 1))
    with pytest.raises(IRError, match="use -1"):
        b.emit("reshape", [s], shape=["E7", 1])


def test_interpreter_segment_semantics():
    adj = Adjacency.from_coo(torch.tensor([0, 1, 2, 2]), torch.tensor([1, 1, 0, 0]), 3, 3)
    b = Builder()
    x = b.input("x", TensorType((3, 2)))
    a = b.const("adj", adj)
    outs = [b.emit("spmm", [a, x], reduce=r) for r in ("sum", "mean", "max")]
    scores = b.emit("sddmm", [a, b.emit("reduce_sum", [x]), b.emit("reduce_sum", [x])], op="add")
    outs.append(b.emit("edge_softmax", [a, scores]))
    fn = b.finish(outs)
    xv = torch.tensor([[1.0, -2.0], [3.0, 4.0], [5.0, 6.0]])
    s, mean, mx, soft = evaluate(fn, {"x": xv})
    assert s.tolist() == [[10.0, 12.0], [4.0, 2.0], [0.0, 0.0]]  # node 2 has no in-edges -> 0
    assert mean.tolist() == [[5.0, 6.0], [2.0, 1.0], [0.0, 0.0]]
    assert mx.tolist() == [[5.0, 6.0], [3.0, 4.0], [0.0, 0.0]]
    # softmax over each destination's in-edges sums to 1
    dst = adj.dst_ids()
    sums = torch.zeros(3).index_add_(0, dst, soft)
    assert torch.allclose(sums[:2], torch.ones(2))


def test_adjacency_self_loops_replace_existing():
    adj = Adjacency.from_coo(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2, 2)
    loops = adj.with_self_loops()
    pairs = sorted(zip(loops.src_ids().tolist(), loops.dst_ids().tolist()))
    assert pairs == [(0, 0), (1, 0), (1, 1)]


def test_graph_ops_self_loops_and_degrees():
    # edges 0->1, 1->1 (a self-loop), 2->1, 2->0, 2->0 (a duplicate)
    adj = Adjacency.from_coo(torch.tensor([0, 1, 2, 2, 2]), torch.tensor([1, 1, 1, 0, 0]), 3, 3)
    b = Builder()
    a = b.const("adj", adj)
    replaced = b.emit("graph.add_self_loops", [a], nnz_symbol="E1")
    kept = b.emit("graph.add_self_loops", [a], nnz_symbol="E2", keep_existing=True)
    removed = b.emit("graph.remove_self_loops", [a], nnz_symbol="E3")
    assert removed.type == AdjType(3, 3, "E3")
    degrees = [b.emit("graph.degree", [g], end=end) for g in (a, replaced, kept, removed) for end in ("dst", "src")]
    assert degrees[0].type == TensorType((3,))
    with pytest.raises(IRError, match="end must be 'src' or 'dst'"):
        b.emit("graph.degree", [a], end="both")
    with pytest.raises(IRError, match="needs a square adjacency"):
        b.emit("graph.remove_self_loops", [b.const("rect", Adjacency.from_coo(torch.tensor([0]), torch.tensor([0]),
                                                                              2, 1))], nnz_symbol="E4")
    values = [v.tolist() for v in evaluate(b.finish(degrees), {})]
    assert values == [
        [2.0, 3.0, 0.0], [1.0, 1.0, 3.0],  # the graph: in-degrees, out-degrees
        [3.0, 3.0, 1.0], [2.0, 1.0, 4.0],  # one self-loop per node instead of node 1's own
        [3.0, 4.0, 1.0], [2.0, 2.0, 4.0],  # one more per node, node 1's own kept
        [2.0, 2.0, 0.0], [1.0, 0.0, 3.0],  # no self-loops
    ]
