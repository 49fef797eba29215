"""The templates' shared scalar rules (``gnncc.codegen.templates.common``): the CPU's vectorisable
``fast_exp`` and NaN test, checked for accuracy and for staying in vector code."""

import re

import pytest
import torch

from gnncc.codegen.kernel import build_kernel
from gnncc.codegen.testing import CPU, check_node, dense_node

FLT_MIN, FLT_MAX = 1.1754944e-38, 3.4028235e38


def _run(op: str, x: torch.Tensor) -> torch.Tensor:
    node, data = dense_node(op, [x])
    out = torch.empty_like(x)
    build_kernel(node, CPU)(data, out)
    return out


def test_fast_exp_is_within_two_ulp_of_exp_over_the_float_range() -> None:
    x = torch.cat([torch.linspace(-87.3, 88.7, 200_001), torch.randn(10_000) * 10, torch.randn(1000) * 1e-4])
    out = _run("exp", x)
    ref = torch.exp(x.double())
    normal = (ref >= FLT_MIN) & (ref <= FLT_MAX)
    rel = ((out.double() - ref).abs() / ref)[normal]
    assert rel.max() < 2.5e-7  # float32 rounding is 6e-8; Cephes' expf is about 1 ulp


def test_fast_exp_special_values() -> None:
    x = torch.tensor([float("nan"), float("-inf"), float("inf"), 0.0, -0.0, -88.0, -100.0, 88.72, 88.73, 1e30, -1e30])
    out = _run("exp", x)
    assert out[0].isnan()
    assert out[1] == 0 and out[2] == float("inf") and out[3] == 1 and out[4] == 1
    assert 0 <= out[5] < 1e-37 and out[6] == 0  # under FLT_MIN flushes towards 0
    assert torch.isfinite(out[7]) and out[8] == float("inf") and out[9] == float("inf") and out[10] == 0


@pytest.mark.parametrize("op", ["exp", "elu", "sigmoid", "silu", "relu"])
def test_activations_stay_vectorised(op: str) -> None:
    """``T.isnan`` (in relu's NaN rule and exp's) and libm's ``expf`` used to turn the vectorised
    loop into scalar code: the LLVM IR must hold vector float math and no scalar exp call."""
    node, data = dense_node(op, [torch.randn(64, 32)])
    check_node(node, data, rtol=1e-5)
    ir = build_kernel(node, CPU).source()
    assert re.search(r"fmul(?: fast)? <\d+ x float>|fcmp [a-z]+ <\d+ x float>|select <\d+ x i1>", ir), ir[:2000]
    assert "@expf" not in ir and "llvm.exp.f32" not in ir
    assert "llvm.floor.f32" not in ir  # fast_exp's range reduction stays in vectors


def test_nan_rules_propagate_like_torch() -> None:
    x = torch.tensor([float("nan"), -1.0, 2.0, float("-inf"), float("inf"), -0.0] * 4)
    for op, ref in [("relu", torch.relu), ("elu", torch.nn.functional.elu), ("sigmoid", torch.sigmoid),
                    ("exp", torch.exp)]:
        out = _run(op, x)
        torch.testing.assert_close(out, ref(x), equal_nan=True, msg=op)


def _gathering_nodes(adj):
    """One node per template that gathers source rows: spmm (13-wide rows, not whole cache lines),
    fused_spmm, an SDDMM dot, an edge gather and GAT attention."""
    from gnncc.codegen.testing import sparse_node

    a = ("adj", ())
    return {
        "spmm": sparse_node("spmm", adj, [a, ("src", (13,)), ("nnz", ())], reduce="sum"),
        "fused_spmm": sparse_node("fused_spmm", adj, [a, ("src", (16,))], reduce="mean", epilogue=["relu"]),
        "sddmm": sparse_node("sddmm", adj, [a, ("src", (2, 24)), ("dst", (2, 24))], op="dot"),
        "gather": sparse_node("gather", adj, [("src", (9,)), a], end="src"),
        "attention": sparse_node("attention_spmm", adj, [a, ("src", (3, 5)), ("src", (3,)), ("dst", (3,))],
                                 score="gat", heads="concat"),
    }


@pytest.mark.parametrize("graph", ["random", "hub", "single"])
@pytest.mark.parametrize("prefetch", [0, 2048, 8192])
def test_gather_prefetch_is_in_the_cpu_kernels_and_keeps_their_results(graph: str, prefetch: int) -> None:
    """With ``prefetch`` the edge walks ask for the rows of later edges (``llvm.prefetch``); far
    distances run past the last edge (clamped), and nothing changes the results; 0 emits none."""
    from gnncc.codegen.testing import edge_case_graphs

    for name, (node, data) in _gathering_nodes(edge_case_graphs()[graph]).items():
        check_node(node, data, {"prefetch": prefetch}, rtol=1e-4)
        ir = build_kernel(node, CPU, {"prefetch": prefetch}).source()
        assert ("@llvm.prefetch" in ir) == bool(prefetch), name


def test_scatter_and_cuda_kernels_do_not_prefetch() -> None:
    """Scatter reads its edge rows in order (the hardware prefetcher's case), and CUDA has no such
    knob: the CUDA source of a default SpMM holds no prefetch."""
    from gnncc.codegen import generate_cuda_source
    from gnncc.codegen.testing import edge_case_graphs, sparse_node

    adj = edge_case_graphs()["random"]
    node, data = sparse_node("scatter", adj, [("nnz", (16,)), ("adj", ())], reduce="sum")
    check_node(node, data)
    assert "@llvm.prefetch" not in build_kernel(node, CPU).source()
    spmm, _ = _gathering_nodes(adj)["spmm"]
    assert "prefetch" not in generate_cuda_source(spmm)
