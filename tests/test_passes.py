"""Passes: message-passing canonicalisation, per-graph folding, DCE, the manager."""

import pytest
import torch
from graphs import random_graph

from gnncc.errors import GnnccError
from gnncc.ir import AdjType, Builder, TensorType, evaluate, print_function
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager


def _gcn_norm_ir(n, e):
    """GCN propagation as a frontend emits it: gathers, scatters and graph-only normalisation."""
    b = Builder()
    x = b.input("x", TensorType((n, 3)))
    adj = b.emit("graph.add_self_loops", [b.emit("graph.adj", type=AdjType(n, n, e))], nnz_symbol="E0")
    deg = b.emit("scatter", [b.emit("graph.edge_full", [adj]), adj], reduce="sum")
    dis = b.emit("rsqrt_or_zero", [deg])
    w = b.emit("mul", [b.emit("gather", [dis, adj], end="src"), b.emit("gather", [dis, adj], end="dst")])
    h = b.emit("matmul", [x, b.const("w", torch.randn(3, 2, generator=torch.Generator().manual_seed(0)))])
    msg = b.emit("mul", [b.emit("gather", [h, adj], end="src"), b.emit("reshape", [w], shape=[-1, 1])])
    return b.finish([b.emit("scatter", [msg, adj], reduce="sum")])


def _gat_ir(n, e, heads=2, ch=3):
    b = Builder()
    x = b.input("x", TensorType((n, heads, ch)))
    adj = b.emit("graph.add_self_loops", [b.emit("graph.adj", type=AdjType(n, n, e))], nnz_symbol="E0")
    a_src = b.emit("reduce_sum", [x], axis=-1)
    a_dst = b.emit("reduce_sum", [b.emit("neg", [x])], axis=-1)
    s = b.emit("add", [b.emit("gather", [a_src, adj], end="src"), b.emit("gather", [a_dst, adj], end="dst")])
    alpha = b.emit("edge_softmax", [adj, b.emit("leaky_relu", [s], alpha=0.2)])
    msg = b.emit("mul", [b.emit("gather", [x, adj], end="src"), b.emit("reshape", [alpha], shape=[-1, heads, 1])])
    dot = b.emit("reduce_sum", [b.emit("mul", [b.emit("gather", [x, adj], end="src"),
                                                b.emit("gather", [x, adj], end="dst")])], axis=-1)
    out = b.emit("scatter", [msg, adj], reduce="sum")
    return b.finish([b.emit("add", [out, b.emit("reshape", [b.emit("scatter", [dot, adj], reduce="max")],
                                                         shape=[n, heads, 1])])])


def _run(fn, graph, pipeline=DEFAULT_PIPELINE):
    return PassManager(list(pipeline)).run(fn, PassContext(graph.csc))


def test_gcn_becomes_one_spmm_with_folded_weights():
    g = random_graph(20, 60, seed=0, self_loops=4, duplicates=5)
    fn = _gcn_norm_ir(20, g.num_edges)
    opt, records = _run(fn, g)
    nnz = g.csc.with_self_loops().nnz
    assert print_function(opt) == "\n".join([
        "func @main(%x: f32[20, 3]) -> (f32[20, 2]) {",
        f'  %0 = const "per_graph.1.add_self_loops" : adj[20->20, nnz={nnz}]',
        f'  %1 = const "per_graph.2.sddmm" : f32[{nnz}]',
        '  %2 = const "w" : f32[3, 2]',
        "  %3 = matmul(%x, %2) : f32[20, 2]",
        '  %4 = spmm(%0, %3, %1) {reduce="sum"} : f32[20, 2]',
        "  return %4",
        "}",
    ])
    x = torch.randn(20, 3)
    assert torch.allclose(evaluate(fn, {"x": x}, g.csc)[0], evaluate(opt, {"x": x})[0], atol=1e-6)
    assert [r.name for r in records] == list(DEFAULT_PIPELINE)
    assert "precomputed" in records[2].summary()


def test_gat_patterns_multi_head_spmm_and_sddmm():
    g = random_graph(15, 50, seed=1)
    fn = _gat_ir(15, g.num_edges)
    opt, _ = _run(fn, g)
    ops = [n.op for n in opt.nodes]
    assert "gather" not in ops and "scatter" in ops  # the max-scatter of dot scores has no gather
    assert ops.count("sddmm") == 2 and ops.count("spmm") == 1
    sddmm_ops = sorted(n.attrs["op"] for n in opt.nodes if n.op == "sddmm")
    assert sddmm_ops == ["add", "dot"]
    spmm = next(n for n in opt.nodes if n.op == "spmm")
    assert spmm.inputs[2].type.shape == (g.csc.with_self_loops().nnz, 2)  # per-head edge weights
    x = torch.randn(15, 2, 3)
    assert torch.allclose(evaluate(fn, {"x": x}, g.csc)[0], evaluate(opt, {"x": x})[0], atol=1e-5)


def test_without_canonicalisation_gathers_remain_and_agree():
    g = random_graph(10, 30, seed=2)
    fn = _gcn_norm_ir(10, g.num_edges)
    opt, _ = _run(fn, g, ["fold_graph_constants", "dead_code_elimination"])
    ops = [n.op for n in opt.nodes]
    assert "spmm" not in ops and "gather" in ops and "scatter" in ops
    x = torch.randn(10, 3)
    assert torch.allclose(evaluate(fn, {"x": x}, g.csc)[0], evaluate(opt, {"x": x})[0], atol=1e-6)


def test_weight_that_is_not_per_edge_is_not_fused():
    g = random_graph(6, 12, seed=3)
    b = Builder()
    x = b.input("x", TensorType((6, 4)))
    adj = b.emit("graph.adj", type=AdjType(6, 6, g.num_edges))
    msg = b.emit("mul", [b.emit("gather", [x, adj], end="src"), b.const("feat_scale", torch.randn(4))])
    fn = b.finish([b.emit("scatter", [msg, adj], reduce="sum")])
    opt, _ = _run(fn, g)
    assert "spmm" not in [n.op for n in opt.nodes]


def test_fold_is_required_and_unknown_passes_rejected():
    with pytest.raises(GnnccError, match="required"):
        PassManager(["canonicalize_message_passing"])
    with pytest.raises(GnnccError, match="unknown pass"):
        PassManager(["fold_graph_constants", "loop_unrolling_magic"])


def test_fold_without_graph_is_an_error():
    fn = _gcn_norm_ir(5, 4)
    with pytest.raises(GnnccError, match="no graph was given"):
        PassManager(list(DEFAULT_PIPELINE)).run(fn, PassContext(None))
