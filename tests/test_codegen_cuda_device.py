"""Kernels run on a CUDA device against the interpreter: every point next to the default of every
sparse family's CUDA space, and combinations of the SpMM techniques (skipped without a GPU).

nvcc compiles all of these on every machine (``test_codegen_cuda``); only here are their results
checked, so run this file first on a machine with a GPU: ``python -m pytest -m cuda``.
"""

import pytest
import torch

from gnncc.codegen import Target
from gnncc.codegen.testing import (
    check_node,
    dense_node,
    edge_case_graphs,
    neighbour_configs,
    sparse_node,
    spmm_matmul_node,
)
from gnncc.errors import CodegenError
from gnncc.ir.function import Builder
from gnncc.ir.ops import REDUCE_KINDS
from gnncc.ir.types import TensorType

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = Target("cuda", "sm_90")
GRAPHS = edge_case_graphs(torch.int32)
SPMM = {
    "plain": [("adj", ()), ("src", (64,))],
    "weighted": [("adj", ()), ("src", (64,)), ("nnz", ())],
    "heads": [("adj", ()), ("src", (2, 36)), ("nnz", (2,))],
}
COMBINATIONS = [
    {"vec": 4, "lanes": 16, "feat_tile": 64},
    {"vec": 4, "lanes": 8, "edge_lanes": 4, "rows_per_block": 8, "feat_tile": 32},
    {"edge_lanes": 32, "lanes": 32, "feat_tile": 32},
    {"stage": True, "lanes": 16, "vec": 2, "feat_tile": 64},
    {"stage": True, "col_parts": 4},
    {"col_parts": 8, "edge_lanes": 4, "vec": 4, "lanes": 16, "feat_tile": 64},
    {"group": 32, "buckets": True, "edge_lanes": 2, "vec": 4, "lanes": 8, "feat_tile": 32},
    {"group": 64, "buckets": True, "stage": True, "lanes": 32, "feat_tile": 64},
]


@pytest.mark.parametrize("config", neighbour_configs("spmm", "cuda") + COMBINATIONS, ids=str)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_spmm_space_on_device(config, graph):
    adj = GRAPHS[graph]
    for reduce in REDUCE_KINDS:
        for shapes in SPMM.values():
            check_node(*sparse_node("spmm", adj, shapes, reduce=reduce), config, CUDA)
        check_node(*sparse_node("scatter", adj, [("nnz", (12,)), ("adj", ())], reduce=reduce), config, CUDA)


@pytest.mark.parametrize("family,shapes,attrs", [
    ("sddmm", [("adj", ()), ("src", (4, 8)), ("dst", (4, 8))], {"op": "dot"}),
    ("gather", [("dst", (33,)), ("adj", ())], {"end": "dst"}),
    ("edge_softmax", [("adj", ()), ("nnz", (3,))], {}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_edge_families_on_device(family, shapes, attrs):
    for config in [None, *neighbour_configs(family, "cuda")]:
        for adj in GRAPHS.values():
            check_node(*sparse_node(family, adj, shapes, **attrs), config, CUDA)


@pytest.mark.parametrize("score,shapes,attrs", [
    ("gat", [("adj", ()), ("src", (3, 5)), ("src", (3,)), ("dst", (3,))], {"heads": "concat"}),
    ("dot", [("adj", ()), ("src", (2, 8)), ("src", (2, 8)), ("dst", (2, 8))], {"heads": "mean", "scale": 0.01}),
    ("gat", [("adj", ()), ("src", (3, 5)), ("src", (3,)), ("dst", (3,)), ("nnz", (3,))],
     {"heads": "mean", "edge_bias": True}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_attention_on_device(score, shapes, attrs):
    for config in [None, *neighbour_configs("attention", "cuda")]:
        for adj in GRAPHS.values():
            if adj.num_src == adj.num_dst:
                check_node(*sparse_node("attention_spmm", adj, shapes, score=score, **attrs), config, CUDA)


@pytest.mark.parametrize("config", [None, *neighbour_configs("spmm", "cuda")], ids=str)
def test_edge_messages_on_device(config):
    """GINE's ``relu(x_j + e_ji)`` summed, a max of ``x_j + e_ji``, and PNA's (with edge features) min
    ``max(-(x_j + e_ji))`` and mean of squares, under every spmm schedule."""
    for adj in GRAPHS.values():
        for reduce, act in (("sum", "relu"), ("max", ""), ("max", "neg"), ("mean", "square")):
            check_node(*sparse_node("fused_spmm", adj, [("adj", ()), ("src", (24,)), ("nnz", (24,))], reduce=reduce,
                                    weighted=True, edge_op="add", message_act=act), config, CUDA)


@pytest.mark.parametrize("config", [None, *neighbour_configs("spmm", "cuda")], ids=str)
def test_destination_rows_on_device(config):
    """PNA's two-pass variance ``mean((x_j [+ e_ji] - mu_i)^2)`` and a max of ``x_j - d_i``: the destination
    row held in registers per row, segment or partition, under every spmm schedule."""
    edge, no_edge = [("src", (24,)), ("nnz", (24,)), ("dst", (24,))], [("src", (24,)), ("dst", (24,))]
    for adj in GRAPHS.values():
        for shapes, attrs in ((edge, {"weighted": True, "edge_op": "add", "message_act": "square"}),
                              (no_edge, {"message_act": "square"}), (no_edge, {"reduce": "max"})):
            check_node(*sparse_node("fused_spmm", adj, [("adj", ()), *shapes], **{"reduce": "mean", **attrs},
                                    dst_op="sub"), config, CUDA)


@pytest.mark.parametrize("config", [None, *neighbour_configs("spmm_matmul", "cuda")], ids=str)
def test_spmm_matmul_on_device(config):
    for adj in GRAPHS.values():
        check_node(*spmm_matmul_node(adj, 70, 19, reduce="mean", epilogue=("add[feat]", "relu"), tile_rows=8),
                   config, CUDA)


@pytest.mark.parametrize("config", [None, *neighbour_configs("matmul", "cuda")], ids=str)
def test_fused_matmul_on_device(config):
    g = torch.Generator().manual_seed(0)
    operands = [torch.randn(m, n, generator=g) for m, n in ((100, 75), (75, 19), (1, 19), (100, 19))]
    check_node(*dense_node("fused_matmul", operands, epilogue=["add[feat]", "add[node]", "relu"]), config, CUDA)


@pytest.mark.parametrize("config", [None, {"vec": 4, "lanes": 8, "feat_tile": 32}, {"stage": True},
                                    {"group": 32, "buckets": True}, {"col_parts": 4}], ids=str)
def test_column_windows_on_device(config):
    for adj in GRAPHS.values():
        if adj.num_src != adj.num_dst:
            continue
        y = torch.randn(adj.num_src, 40)
        b = Builder()
        a, yv = b.const("A", adj), b.input("y", TensorType((adj.num_src, 40), "float32"))
        node = b.emit("fused_spmm", [a, yv, yv], reduce="mean", x_cols=[8, 24], epilogue=["add[node@24]", "relu"]).node
        check_node(node, [adj, y, y], config, CUDA)


def test_reduce_dot_on_device():
    g = torch.Generator().manual_seed(1)
    for config in [None, *neighbour_configs("reduce", "cuda")]:
        operands = [torch.randn(300, 8, 8, generator=g), torch.randn(1, 8, 8, generator=g)]
        check_node(*dense_node("reduce_dot", operands, axis=-1), config, CUDA)


def test_misaligned_views_are_copied_or_refused():
    """16-byte vector accesses need aligned rows: a kernel called on a view at an odd offset copies it
    (``Kernel.__call__``) or, bound directly, says what to do."""
    from gnncc.codegen import build_kernel

    adj = GRAPHS["random"]
    node, (a, x) = sparse_node("spmm", adj, [("adj", ()), ("src", (64,))], reduce="sum")
    kernel = build_kernel(node, CUDA, {"vec": 4, "lanes": 16, "feat_tile": 64}, index_dtype="int32")
    base = torch.empty(x.numel() + 1, device="cuda")
    shifted = base[1:].view_as(x)
    shifted.copy_(x.cuda())
    out = torch.empty(adj.num_dst, 64, device="cuda")
    kernel([a.to("cuda"), shifted], out)
    check = torch.zeros_like(out)
    kernel([a.to("cuda"), x.cuda()], check)
    torch.testing.assert_close(out, check)
    with pytest.raises(CodegenError, match="16-byte boundary"):
        kernel.bind([a.to("cuda"), shifted], out)
