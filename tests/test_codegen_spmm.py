"""spmm and scatter kernels (one shared template) on CPU against the interpreter."""

import pytest
import torch
from sweeps import knob_sweep

from gnncc.codegen.testing import check_node, edge_case_graphs, sparse_node, spmm_matmul_node
from gnncc.errors import IRError
from gnncc.ir.function import Builder
from gnncc.ir.ops import REDUCE_KINDS
from gnncc.ir.types import TensorType

GRAPHS = {dtype: edge_case_graphs(dtype) for dtype in (torch.int32, torch.int64)}
SPMM_OPERANDS = {
    "plain": [("adj", ()), ("src", (13,))],
    "weighted": [("adj", ()), ("src", (13,)), ("nnz", ())],
    "heads": [("adj", ()), ("src", (3, 5)), ("nnz", (3,))],
}


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("reduce", REDUCE_KINDS)
@pytest.mark.parametrize("variant", sorted(SPMM_OPERANDS))
def test_spmm(index_dtype, graph, reduce, variant):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("spmm", adj, SPMM_OPERANDS[variant], reduce=reduce))


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("reduce", REDUCE_KINDS)
@pytest.mark.parametrize("rest", [(), (7,), (2, 3)])
def test_scatter(index_dtype, graph, reduce, rest):
    adj = GRAPHS[index_dtype][graph]
    check_node(*sparse_node("scatter", adj, [("nnz", rest), ("adj", ())], reduce=reduce))


@pytest.mark.parametrize("config", knob_sweep("spmm"))
@pytest.mark.parametrize("width", [13, 70])
def test_spmm_configs(config, width):
    for graph in ("random", "hub"):
        adj = GRAPHS[torch.int32][graph]
        operands = [("adj", ()), ("src", (width,)), ("nnz", ())]
        check_node(*sparse_node("spmm", adj, operands, reduce="mean"), config)
        check_node(*sparse_node("scatter", adj, [("nnz", (width,)), ("adj", ())], reduce="max"), config)


def test_scatter_int_messages():
    adj = GRAPHS[torch.int32]["random"]
    for reduce in ("sum", "max"):
        shapes = [("nnz", (4,)), ("adj", ())]
        check_node(*sparse_node("scatter", adj, shapes, dtype=torch.int64, reduce=reduce))


@pytest.mark.parametrize(("index_dtype", "group", "buckets"),
                         [(torch.int32, 8, False), (torch.int32, 32, False), (torch.int64, 8, False),
                          (torch.int32, 8, True), (torch.int64, 32, True)])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
def test_neighbour_grouping(index_dtype, group, buckets, graph):
    """Rows cut into segments of at most ``group`` edges (walked bucket by bucket of length, or not), split
    rows combined: the same answer as whole rows."""
    adj = GRAPHS[index_dtype][graph]
    config = {"group": group, "buckets": buckets}
    for reduce in REDUCE_KINDS:
        for variant in ("weighted", "heads"):
            check_node(*sparse_node("spmm", adj, SPMM_OPERANDS[variant], reduce=reduce), config)
        check_node(*sparse_node("scatter", adj, [("nnz", (2, 3)), ("adj", ())], reduce=reduce), config)


@pytest.mark.parametrize(("index_dtype", "parts"), [(torch.int32, 2), (torch.int32, 8), (torch.int64, 4)])
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
def test_column_partitions(index_dtype, parts, graph):
    """Rows aggregated one source range after the other, the raw accumulator carried in the output, and
    finished (mean, max of empty rows, epilogue) by the last range: the same answer as one pass."""
    adj = GRAPHS[index_dtype][graph]
    config = {"col_parts": parts}
    for reduce in REDUCE_KINDS:
        for variant in ("plain", "weighted", "heads"):
            check_node(*sparse_node("spmm", adj, SPMM_OPERANDS[variant], reduce=reduce), config)
        # scatter gathers no source rows: it ignores the knob
        check_node(*sparse_node("scatter", adj, [("nnz", (2, 3)), ("adj", ())], reduce=reduce), config)


@pytest.mark.parametrize(("config", "reduce", "kind"), [
    ({"group": 8}, "mean", "feat"),  # split rows finished by the combine pass
    ({"col_parts": 4}, "max", "node"),  # finished by the last partition, after the output held partials
], ids=str)
def test_layouts_with_epilogue(config, reduce, kind):
    """A fused epilogue (an operand, then relu) applied once, to the finished row, whatever the layout."""
    adj = GRAPHS[torch.int32]["hub"]
    node, operands = sparse_node("spmm", adj, [("adj", ()), ("src", (20,)), ("nnz", ())], reduce=reduce)
    b = Builder()
    a, x, w = b.const("A", adj), b.input("x", node.inputs[1].type), b.input("w", node.inputs[2].type)
    shape = (1, 20) if kind == "feat" else (adj.num_dst, 20)
    extra = b.input("e", TensorType(shape, "float32"))
    fused = b.emit("fused_spmm", [a, x, w, extra], reduce=reduce, weighted=True,
                   epilogue=(f"add[{kind}]", "relu")).node
    check_node(fused, [*operands, torch.randn(shape)], config)


WINDOW_CONFIGS = [None, {"group": 8, "buckets": True}, {"col_parts": 4}, {"feat_tile": 8}, {"prefetch": 0},
                  {"vectorize": False}]


@pytest.mark.parametrize("config", WINDOW_CONFIGS, ids=str)
@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize("reduce", REDUCE_KINDS)
def test_column_windows(config, graph, reduce):
    """A merged matmul's result read through windows: columns 8..24 of 40-wide rows aggregated (``x_cols``),
    columns 24..40 of the same rows added as the root term (``node@24``)."""
    adj = GRAPHS[torch.int32][graph]
    g = torch.Generator().manual_seed(adj.nnz)
    y, bias = torch.randn(adj.num_src, 40, generator=g), torch.randn(1, 16, generator=g)
    b = Builder()
    a, yv, bv = b.const("A", adj), b.input("y", TensorType(tuple(y.shape), "float32")), b.input("b", TensorType(
        (1, 16), "float32"))
    square = adj.num_src == adj.num_dst
    root = [yv] if square else []
    steps = ["add[feat]", *(["add[node@24]"] if square else []), "relu"]
    node = b.emit("fused_spmm", [a, yv, bv, *root], reduce=reduce, x_cols=[8, 24], epilogue=steps).node
    out = check_node(node, [adj, y, bias, *([y] if square else [])], config)
    assert out.shape == (adj.num_dst, 16)


def test_column_windows_are_checked():
    adj = GRAPHS[torch.int32]["random"]
    b = Builder()
    a, y = b.const("A", adj), b.input("y", TensorType((adj.num_src, 10), "float32"))
    with pytest.raises(IRError, match=r"x_cols \[4, 12\] must be \[start, stop\) within the columns of x"):
        b.emit("fused_spmm", [a, y], x_cols=[4, 12])
    with pytest.raises(IRError, match=r"operand 0 \(node@6\) f32\[\d+, 10\] must be \[\d+, S\] with S >= 6 \+ 5"):
        b.emit("fused_spmm", [a, y, y], x_cols=[0, 5], epilogue=["add[node@6]"])


def test_column_parts_layout():
    adj = GRAPHS[torch.int64]["bipartite"]
    parts = adj.columns(4)
    assert all(t.dtype == torch.int64 for t in parts.tensors)
    width = -(-adj.num_src // 4)
    src, dst = adj.src_ids(), adj.dst_ids()
    # the same edges, each once, partition by partition and row by row within one
    assert torch.equal(torch.sort(parts.part_edge).values, torch.arange(adj.nnz))
    assert torch.equal(parts.part_src, src[parts.part_edge])
    for p in range(4):
        for v in range(adj.num_dst):
            lo, hi = int(parts.part_ptr[p * adj.num_dst + v]), int(parts.part_ptr[p * adj.num_dst + v + 1])
            edges = parts.part_edge[lo:hi]
            assert bool((dst[edges] == v).all()) and bool((src[edges] // width == p).all())
            assert torch.equal(edges, torch.sort(edges).values)  # the adjacency's own order kept
    assert adj.columns(4) is parts and "col4" in adj.computed_layouts()
    with pytest.raises(ValueError, match="partition count must be positive"):
        adj.columns(0)


def test_row_segments_layout():
    adj = GRAPHS[torch.int64]["hub"]
    seg = adj.segments(16)
    assert all(t.dtype == torch.int64 for t in seg.tensors)
    degree = adj.in_degrees()
    lengths = seg.seg_ptr[1:] - seg.seg_ptr[:-1]
    assert int(lengths.max()) <= 16 and int(lengths.min()) >= 0
    # segments tile each row's edges in order, an empty row keeps one empty segment
    assert torch.equal(seg.seg_ptr[seg.row_seg[:-1]], adj.indptr[:-1])
    assert torch.equal(seg.seg_ptr[seg.row_seg[1:]], adj.indptr[1:])
    assert torch.equal(seg.row_seg[1:] - seg.row_seg[:-1], torch.clamp((degree + 15) // 16, min=1))
    assert torch.equal(seg.seg_row, torch.repeat_interleave(torch.arange(adj.num_dst), seg.row_seg.diff()))
    assert torch.equal(seg.split_rows, torch.nonzero(degree > 16).flatten())
    assert adj.segments(16) is seg and adj.to("cpu") is adj  # computed once per graph
    with pytest.raises(ValueError, match="group size must be positive"):
        adj.segments(0)


def test_degree_buckets_layout():
    adj = GRAPHS[torch.int32]["hub"]
    seg, ell = adj.segments(32), adj.buckets(32)
    assert ell.bucket_ptr.numel() == 7 and int(ell.bucket_ptr[-1]) == seg.seg_row.numel()  # widths 1 .. 32
    assert torch.equal(torch.sort(ell.order.long()).values, torch.arange(seg.seg_row.numel()))
    lengths = (seg.seg_ptr[1:] - seg.seg_ptr[:-1]).long()[ell.order.long()]
    for b in range(6):
        inside = lengths[int(ell.bucket_ptr[b]):int(ell.bucket_ptr[b + 1])]
        assert bool((inside <= 2 ** b).all()) and (b == 0 or bool((inside > 2 ** (b - 1)).all()))
    with pytest.raises(ValueError, match="power-of-two group size"):
        adj.buckets(24)


@pytest.mark.parametrize("graph", sorted(GRAPHS[torch.int32]))
@pytest.mark.parametrize(("reduce", "weighted", "epilogue", "tile_rows"), [
    ("sum", True, (), 1), ("mean", False, ("add[feat]", "relu"), 4), ("max", False, (), 32),
    ("sum", True, ("mul[row]", "add[node]"), 3)])
def test_spmm_matmul(graph, reduce, weighted, epilogue, tile_rows):
    """Aggregation, epilogue and transform in one kernel: the interpreter's ``fused_spmm(...) @ W``."""
    node, operands = spmm_matmul_node(GRAPHS[torch.int32][graph], 13, 5, reduce=reduce, weighted=weighted,
                                      epilogue=epilogue, tile_rows=tile_rows)
    check_node(node, operands, rtol=1e-4)


@pytest.mark.parametrize("config", [{"feat_tile": 16, "vectorize": False}, {"parallel": False, "feat_tile": 256}],
                         ids=str)
def test_spmm_matmul_configs(config):
    node, operands = spmm_matmul_node(GRAPHS[torch.int64]["hub"], 70, 19, reduce="mean", tile_rows=8)
    check_node(node, operands, config, rtol=1e-4)
