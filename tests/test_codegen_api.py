"""Codegen API: schedule spaces, config validation, caching, naming, error messages."""

import json

import pytest
import torch

from gnncc.codegen import Target, build_kernel, default_config, load_space
from gnncc.codegen.schedule import SCHEDULE_DIR, TARGET_KINDS
from gnncc.codegen.spec import DENSE_FAMILIES, SPARSE_FAMILIES
from gnncc.codegen.testing import dense_node, edge_case_graphs, sparse_node
from gnncc.errors import CodegenError
from gnncc.ir import Builder, TensorType

CPU, CUDA = Target("cpu"), Target("cuda", "sm_90")
ADJ = edge_case_graphs()["random"]


@pytest.mark.parametrize("family", SPARSE_FAMILIES + DENSE_FAMILIES)
@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_spaces_load(family, kind):
    space = load_space(family, kind)
    assert space.validate(None) == space.default
    assert all(space.validate(p) == p for p in space.neighbours())
    assert (SCHEDULE_DIR / f"{family}.json").is_file()
    json.loads((SCHEDULE_DIR / f"{family}.json").read_text())


@pytest.mark.parametrize("target,config,match", [
    (CPU, {"feat_tile": 3}, "feat_tile=3 is not allowed"),
    (CPU, {"parallel": 1}, "parallel=1 is not allowed"),
    (CPU, {"threads": 64}, "unknown schedule knob 'threads'"),
    (CUDA, {"rows_per_block": 1, "lanes": 1}, "at least one full warp"),
    (CUDA, {"lanes": 32, "feat_tile": 32, "rows_per_block": 1}, None),
])
def test_config_validation(target, config, match):
    node, _ = sparse_node("spmm", ADJ, [("adj", ()), ("src", (8,))], reduce="sum")
    if match is None:
        assert build_kernel(node, target, config).config["lanes"] == 32
    else:
        with pytest.raises(CodegenError, match=match):
            build_kernel(node, target, config)


def test_matmul_constraint():
    node, _ = dense_node("matmul", [torch.randn(4, 4), torch.randn(4, 4)])
    with pytest.raises(CodegenError, match="tile_m \\* tile_n <= 256"):
        build_kernel(node, CPU, {"tile_m": 16, "tile_n": 64})


def test_cache_and_naming():
    node, ops = sparse_node("spmm", ADJ, [("adj", ()), ("src", (16,)), ("nnz", ())], reduce="sum")
    other, _ = sparse_node("spmm", edge_case_graphs()["hub"], [("adj", ()), ("src", (16,)), ("nnz", ())],
                           reduce="sum")
    kernel = build_kernel(node, CPU)
    assert build_kernel(other, CPU) is kernel  # graph sizes are symbolic: one kernel for both graphs
    assert build_kernel(node, CPU, {"parallel": False}) is not kernel
    assert kernel.name == "spmm_sum_ew_f16_i32"
    assert kernel.family == "spmm" and kernel.target == CPU
    assert kernel.config == default_config(node, CPU)
    assert "spmm_sum_ew_f16_i32" in kernel.describe() and "feat_tile=64" in kernel.describe()
    assert "T.prim_func" in kernel.script()
    assert "define" in kernel.source()
    assert build_kernel(node, CPU, index_dtype="int64").name == "spmm_sum_ew_f16_i64"


def test_bind_runs_on_fixed_buffers():
    node, (adj, x) = sparse_node("spmm", ADJ, [("adj", ()), ("src", (5,))], reduce="sum")
    out = torch.empty(adj.num_dst, 5)
    run = build_kernel(node, CPU).bind([adj, x], out)
    run()
    first = out.clone()
    x.mul_(2)
    run()
    torch.testing.assert_close(out, first * 2)


def test_call_accepts_unaligned_and_noncontiguous():
    node, (a, b) = dense_node("add", [torch.randn(5, 6), torch.randn(5, 6)])
    base = torch.randn(31)
    unaligned = base[1:].view(5, 6)
    out = torch.empty(6, 5).t()
    build_kernel(node, CPU)([unaligned, b], out)
    torch.testing.assert_close(out, unaligned + b)


def test_wrong_operands_rejected():
    node, (adj, x) = sparse_node("spmm", ADJ, [("adj", ()), ("src", (5,))], reduce="sum")
    kernel = build_kernel(node, CPU)
    with pytest.raises(CodegenError, match="must be an Adjacency"):
        kernel([x, x], torch.empty(adj.num_dst, 5))
    with pytest.raises(CodegenError, match="shape"):
        kernel([adj, torch.randn(adj.num_src, 6)], torch.empty(adj.num_dst, 5))


def test_unsupported_ops_named():
    b = Builder()
    x = b.input("x", TensorType((4, 6)))
    reshape = b.emit("reshape", [x], shape=[24]).node
    with pytest.raises(CodegenError, match="reshape"):
        build_kernel(reshape, CPU)
    node, _ = dense_node("reduce_mean", [torch.ones(3, 4, dtype=torch.int32)], axis=0)
    with pytest.raises(CodegenError, match=r"reduce_mean \(int32\[3, 4\]\)"):
        build_kernel(node, CPU)
