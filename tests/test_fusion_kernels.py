"""Kernels of the fused ops (fused_spmm epilogues, attention_spmm) against the IR interpreter, and
their CUDA source through nvcc."""

from __future__ import annotations

import pytest
import torch
from sweeps import knob_sweep

import gnncc
from gnncc.check import relative_error
from gnncc.codegen import generate_cuda_source
from gnncc.codegen.kernel import kernel_name
from gnncc.codegen.nvcc import compile_cubin, nvcc_path
from gnncc.codegen.spec import spec_of
from gnncc.codegen.target import Target
from gnncc.codegen.testing import check_node, edge_case_graphs
from gnncc.errors import IRError
from gnncc.ir import Builder, TensorType
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Node
from gnncc.tune.database import task_key

GRAPHS = edge_case_graphs()


def _node(op: str, adj: Adjacency, shapes: list, **attrs) -> tuple[Node, list]:
    gen = torch.Generator().manual_seed(adj.nnz)
    b = Builder()
    values, data = [b.const("A", adj)], [adj]
    for i, shape in enumerate(shapes):
        values.append(b.input(f"t{i}", TensorType(tuple(shape))))
        data.append(torch.randn(shape, generator=gen))
    return b.emit(op, values, **attrs).node, data


def _cases(adj: Adjacency) -> dict[str, tuple[Node, list]]:
    n, m, e = adj.num_dst, adj.num_src, adj.nnz
    cases = {
        "spmm_every_step": _node("fused_spmm", adj, [(m, 7), (e,), (1, 7), (n, 7), (1, 1), (n, 1)],
                                 reduce="mean", weighted=True, epilogue=["add[feat]", "relu", "add[node]",
                                                                         "mul[scalar]", "leaky_relu[0.3]",
                                                                         "sub[row]"]),
        "spmm_max_wide": _node("fused_spmm", adj, [(m, 70), (1, 70)], reduce="max", epilogue=["add[feat]", "elu"]),
        "spmm_edge_add_relu": _node("fused_spmm", adj, [(m, 7), (e, 7), (n, 7)], weighted=True, edge_op="add",
                                    message_act="relu", epilogue=["add[node]"]),
        "spmm_edge_add_max": _node("fused_spmm", adj, [(m, 33), (e, 33)], reduce="max", weighted=True,
                                   edge_op="add", message_act="leaky_relu[0.2]"),
        "spmm_act_mean": _node("fused_spmm", adj, [(m, 5)], reduce="mean", message_act="elu[0.5]"),
        # PNA with edge features: the mean of squared messages (its std) and the max of negated ones (its min)
        "spmm_edge_square_mean": _node("fused_spmm", adj, [(m, 9), (e, 9)], reduce="mean", weighted=True,
                                       edge_op="add", message_act="square"),
        "spmm_edge_neg_max": _node("fused_spmm", adj, [(m, 9), (e, 9)], reduce="max", weighted=True, edge_op="add",
                                   message_act="neg"),
        # PNA's two-pass variance: squared deviations from a destination row (the mean), with and without edge
        # features; a destination row under max, with an epilogue operand after it
        "spmm_dst_square_mean": _node("fused_spmm", adj, [(m, 9), (n, 9)], reduce="mean", message_act="square",
                                      dst_op="sub"),
        "spmm_edge_dst_square_mean": _node("fused_spmm", adj, [(m, 9), (e, 9), (n, 9)], reduce="mean", weighted=True,
                                           edge_op="add", message_act="square", dst_op="sub"),
        "spmm_dst_max_epilogue": _node("fused_spmm", adj, [(m, 33), (n, 33), (n, 33)], reduce="max", dst_op="sub",
                                       epilogue=["add[node]", "relu"]),
    }
    if n == m:
        cases |= {
            "gat_concat": _node("attention_spmm", adj, [(m, 3, 5), (m, 3), (n, 3), (1, 15)], score="gat",
                                heads="concat", epilogue=["add[feat]"]),
            "gat_mean_wide": _node("attention_spmm", adj, [(m, 2, 70), (m, 2), (n, 2)], score="gat",
                                   negative_slope=0.1, heads="mean"),
            "gatv2_mean": _node("attention_spmm", adj, [(m, 3, 4), (n, 3, 4), (1, 3, 4), (n, 4)], score="gatv2",
                                heads="mean", epilogue=["add[node]", "elu"]),
            "gatv2_concat": _node("attention_spmm", adj, [(m, 2, 4), (n, 2, 4), (1, 2, 4)], score="gatv2",
                                  heads="concat"),
            "dot_concat": _node("attention_spmm", adj, [(m, 2, 5), (m, 2, 5), (n, 2, 5), (n, 10)], score="dot",
                                heads="concat", scale=0.447, epilogue=["add[node]"]),
            "dot_mean": _node("attention_spmm", adj, [(m, 3, 4), (m, 3, 4), (n, 3, 4)], score="dot", heads="mean",
                              scale=2.0),
            "gat_edge_bias": _node("attention_spmm", adj, [(m, 3, 5), (m, 3), (n, 3), (e, 3), (1, 15)], score="gat",
                                   heads="concat", edge_bias=True, epilogue=["add[feat]"]),
            "gatv2_edge_bias_mean": _node("attention_spmm", adj, [(m, 2, 4), (n, 2, 4), (1, 2, 4), (e, 2, 4)],
                                          score="gatv2", heads="mean", edge_bias=True),
        }
    return cases


CPU_CONFIGS = [None, {"feat_tile": 4, "vectorize": False, "serial_below": 0}]  # default; tiled, scalar, threaded


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_fused_kernels_match_the_interpreter(graph: str) -> None:
    for node, data in _cases(GRAPHS[graph]).values():
        for config in CPU_CONFIGS:
            check_node(node, data, config, rtol=1e-4)


ATTENTION_CASES = ("gat_concat", "gat_mean_wide", "gatv2_mean", "dot_concat", "gat_edge_bias", "gatv2_edge_bias_mean")


@pytest.mark.parametrize("config", knob_sweep("spmm"))
def test_edge_messages_under_every_spmm_schedule(config: dict) -> None:
    """``act(x_j + e_ji)`` read per edge and feature under every aggregation layout (neighbour groups,
    degree buckets, column partitions with their own edge ids)."""
    cases = _cases(GRAPHS["hub"])
    for case in ("spmm_edge_add_relu", "spmm_edge_add_max", "spmm_edge_square_mean", "spmm_edge_neg_max"):
        check_node(*cases[case], config, rtol=1e-4)


DST_CASES = ("spmm_edge_dst_square_mean", "spmm_dst_max_epilogue")  # (spmm_dst_square_mean: the default schedules)


@pytest.mark.parametrize("config", [None, *knob_sweep("spmm")], ids=str)
def test_destination_rows_under_every_spmm_schedule(config: dict | None) -> None:
    """``act(x_j [+ e_ji] - d_i)`` (the destination row read once per row, segment or partition) on every edge-case
    graph: empty rows give 0, self-loops, duplicate edges, one node, a hub row split into many segments."""
    for adj in GRAPHS.values():
        cases = _cases(adj)
        for case in DST_CASES:
            check_node(*cases[case], config, rtol=1e-4)


@pytest.mark.parametrize("config", [None, {"group": 8}, {"group": 8, "buckets": True}, {"col_parts": 4}], ids=str)
def test_two_pass_variance_kernel_keeps_the_digits_messages_share(config: dict | None) -> None:
    """Rows ``1000 + N(0, 0.1)`` (PNA's std of nearly equal neighbours): the kernel's ``mean((x_j - mu_i)^2)``,
    centred on the float32 mean, is within 1e-5 of the float64 variance, where float32's
    ``mean(x_j^2) - mean(x_j)^2`` keeps no digit; rows without in-edges give 0."""
    adj = GRAPHS["random"]
    node, (_, x, _) = _cases(adj)["spmm_dst_square_mean"]
    x = 1000 + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    src, dst = adj.src_ids().long(), adj.dst_ids().long()
    count = torch.bincount(dst, minlength=adj.num_dst).clamp_min(1)[:, None]

    def mean(rows: torch.Tensor) -> torch.Tensor:
        return torch.zeros(adj.num_dst, rows.shape[1], dtype=rows.dtype).index_add_(0, dst, rows) / count

    exact = mean(x[src].double() ** 2) - mean(x[src].double()) ** 2
    variance = check_node(node, [adj, x, mean(x[src])], config)
    assert relative_error(variance, exact) < 1e-5
    assert relative_error(mean(x[src] ** 2) - mean(x[src]) ** 2, exact) > 1e-2  # the one-pass form
    empty = adj.indptr[1:] == adj.indptr[:-1]
    assert empty.any() and not variance[empty].any()


def test_the_destination_row_variant_has_its_own_kernel_name_and_tuning_key() -> None:
    """Tuning records and built kernels are keyed by the spec: ``square(x_j - d_i)`` is not ``square(x_j)``."""
    adj = GRAPHS["random"]
    graph = gnncc.Graph(torch.stack([adj.src_ids(), adj.dst_ids()]).long(), adj.num_dst)
    plain, _ = _node("fused_spmm", adj, [(adj.num_src, 9)], reduce="mean", message_act="square")
    centred, _ = _node("fused_spmm", adj, [(adj.num_src, 9), (adj.num_dst, 9)], reduce="mean",
                       message_act="square", dst_op="sub")
    names = [kernel_name(spec_of(node)) for node in (plain, centred)]
    assert names == ["fused_spmm_mean_msquare_f9_i32", "fused_spmm_mean_dsub_msquare_f9_i32"]
    assert len({task_key(spec_of(node), graph, Target("cpu")) for node in (plain, centred)}) == 2


@pytest.mark.parametrize("attrs, shapes, message", [
    ({"dst_op": "add"}, [(6, 4), (6, 4)], "dst_op must be '' .* or 'sub', got 'add'"),
    ({"dst_op": "sub"}, [(6, 4)], r"expects \(adj, x, destination_rows, epilogue operands...\)"),
    ({"dst_op": "sub"}, [(6, 4), (6, 5)], r"destination rows f32\[6, 5\] must be \[6, 4\]"),
    ({"dst_op": "sub", "weighted": True, "edge_op": "add"}, [(6, 4), (9, 4), (1, 4)],
     r"destination rows f32\[1, 4\] must be \[6, 4\]"),
], ids=["op", "missing", "width", "rows"])
def test_destination_rows_errors_name_the_operand(attrs: dict, shapes: list, message: str) -> None:
    adj = Adjacency.from_coo(torch.randint(0, 6, (9,)), torch.randint(0, 6, (9,)), 6, 6)
    with pytest.raises(IRError, match=f"fused_spmm: {message}"):
        _node("fused_spmm", adj, shapes, message_act="square", **attrs)


@pytest.mark.parametrize("config", knob_sweep("attention"))
def test_attention_schedules_match_the_interpreter(config: dict) -> None:
    """Every attention knob value (heads walked together or apart, online or max-pass softmax, edge
    chunks): on the graph with a hub row, whose edges span many chunks and end in a partial one."""
    cases = _cases(GRAPHS["hub"])
    for case in ATTENTION_CASES:
        check_node(*cases[case], config, rtol=1e-4)


@pytest.mark.parametrize("config", [None, {"max_pass_below": 0, "edge_chunk": 1}, {"max_pass_below": 64},
                                    {"heads_together": False}], ids=str)
def test_attention_keeps_nan_and_zero_rows(config: dict | None) -> None:
    """A NaN feature makes its out-neighbours' rows NaN (as PyG's softmax), the rest stay finite, and
    rows without in-edges give 0, under the max pass with fast exps as under the online softmax."""
    adj = GRAPHS["random"]
    node, data = _cases(adj)["gat_concat"]
    data[1] = data[1].clone()
    data[1][3] = float("nan")
    out = check_node(node, data, config, rtol=1e-4)
    hit = torch.zeros(adj.num_dst, dtype=torch.bool)
    hit[adj.dst_ids()[adj.src_ids() == 3]] = True
    assert out[hit].isnan().all() and not out[~hit].isnan().any()
    empty = (adj.indptr[1:] == adj.indptr[:-1])
    assert empty.any() and torch.equal(out[empty] - data[4], torch.zeros_like(out[empty]))


@pytest.mark.skipif(nvcc_path() is None, reason="nvcc not found: cannot compile generated CUDA C")
@pytest.mark.parametrize("case", sorted(_cases(GRAPHS["random"])))
def test_fused_cuda_source_compiles(case: str) -> None:
    node, _ = _cases(GRAPHS["random"])[case]
    configs = [None, {"lanes": 4, "rows_per_block": 8, "feat_tile": 32}]
    if node.op == "attention_spmm":
        configs.append({"max_pass": True})
    for config in configs:
        source = generate_cuda_source(node, "sm_90", config)
        assert "__global__" in source
        assert compile_cubin(source, "sm_90")
