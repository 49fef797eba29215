"""Kernels of the fused ops (fused_spmm epilogues, attention_spmm) against the IR interpreter, and
their CUDA source through nvcc."""

from __future__ import annotations

import pytest
import torch

from gnncc.codegen import generate_cuda_source
from gnncc.codegen.nvcc import compile_cubin, nvcc_path
from gnncc.codegen.testing import check_node, edge_case_graphs, neighbour_configs
from gnncc.ir import Builder, TensorType
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Node

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


@pytest.mark.parametrize("config", neighbour_configs("spmm"), ids=str)
def test_edge_messages_under_every_spmm_schedule(config: dict) -> None:
    """``act(x_j + e_ji)`` read per edge and feature under every aggregation layout (neighbour groups,
    degree buckets, column partitions with their own edge ids)."""
    cases = _cases(GRAPHS["hub"])
    for case in ("spmm_edge_add_relu", "spmm_edge_add_max", "spmm_edge_square_mean", "spmm_edge_neg_max"):
        check_node(*cases[case], config, rtol=1e-4)


@pytest.mark.parametrize("config", neighbour_configs("attention"), ids=str)
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
