"""Generated CUDA C of every family compiles with nvcc (no GPU needed)."""

import pytest
import torch
from sweeps import knob_sweep

from gnncc.codegen import Target, build_kernel, default_config, generate_cuda_source
from gnncc.codegen.nvcc import compile_cubin, nvcc_path
from gnncc.codegen.testing import dense_node, edge_case_graphs, neighbour_configs, sparse_node, spmm_matmul_node
from gnncc.errors import CodegenError
from gnncc.ir.function import Builder
from gnncc.ir.types import TensorType

pytestmark = pytest.mark.skipif(nvcc_path() is None, reason="nvcc not found: cannot compile generated CUDA C")

ADJ = edge_case_graphs()["random"]
ADJ64 = edge_case_graphs(torch.int64)["random"]
R = torch.randn
NODES = {
    "spmm": sparse_node("spmm", ADJ, [("adj", ()), ("src", (2, 40)), ("nnz", (2,))], reduce="mean"),
    "scatter": sparse_node("scatter", ADJ, [("nnz", (70,)), ("adj", ())], reduce="max"),
    "spmm_matmul": spmm_matmul_node(ADJ, 70, 19, reduce="mean", epilogue=("add[feat]", "relu"), tile_rows=8),
    "gather": sparse_node("gather", ADJ, [("dst", (33,)), ("adj", ())], end="dst"),
    "sddmm": sparse_node("sddmm", ADJ, [("adj", ()), ("src", (4, 8)), ("dst", (4, 8))], op="dot"),
    "edge_softmax": sparse_node("edge_softmax", ADJ, [("adj", ()), ("nnz", (3,))]),
    "matmul": dense_node("matmul", [R(100, 75), R(75, 19)]),
    "elementwise": dense_node("gelu", [R(300, 7)]),
    "reduce": dense_node("reduce_max", [R(5, 6, 7)], axis=1),
    "rowwise": dense_node("log_softmax", [R(50, 9)]),
    "concat": dense_node("concat", [R(3, 4), R(3, 2)], axis=1),
}


def _configs(family):
    """The default and (up to) three other points of the CUDA space."""
    return [None, *neighbour_configs(family, "cuda")[:3]]


@pytest.mark.parametrize("family,config", [(f, c) for f in NODES for c in _configs(f)], ids=str)
def test_cuda_source_compiles(family, config):
    node, _ = NODES[family]
    assert node.family == family
    source = generate_cuda_source(node, "sm_90", config)
    assert "__global__" in source
    assert compile_cubin(source, "sm_90")


CUDA_POINTS = knob_sweep("spmm", "cuda") + knob_sweep("matmul", "cuda")


@pytest.mark.parametrize("config", CUDA_POINTS)
def test_cuda_spaces_compile(config):
    family = "spmm" if "lanes" in config else "matmul"
    assert compile_cubin(generate_cuda_source(NODES[family][0], "sm_90", config))


@pytest.mark.parametrize("config", [None, *neighbour_configs("matmul", "cuda")[:2]], ids=str)
def test_cuda_fused_matmul_applies_its_epilogue_at_the_store(config):
    node, _ = dense_node("fused_matmul", [R(100, 75), R(75, 19), R(1, 19), R(100, 19)],
                         epilogue=["add[feat]", "add[node]", "relu"])
    source = generate_cuda_source(node, "sm_90", config)
    assert "fused_matmul_100x75x19_add_f_add_n_relu" in source and "epi1" in source
    assert compile_cubin(source, "sm_90")


def test_cuda_reduce_dot_compiles():
    node, _ = dense_node("reduce_dot", [R(100, 8, 8), R(1, 8, 8)], axis=-1)
    source = generate_cuda_source(node, "sm_90")
    assert "reduce_dot_am1_100x8x8_w1x8x8" in source
    assert compile_cubin(source, "sm_90")


@pytest.mark.parametrize(("x_cols", "vector"), [((8, 24), True), ((6, 22), False)])
def test_cuda_column_windows(x_cols, vector):
    """A window starting on a 16-byte boundary keeps float4 loads; one that does not falls back to scalars."""
    b = Builder()
    a, y = b.const("A", ADJ), b.input("y", TensorType((ADJ.num_src, 40), "float32"))
    node = b.emit("fused_spmm", [a, y, y], reduce="sum", x_cols=list(x_cols), epilogue=["add[node@24]"]).node
    source = generate_cuda_source(node, "sm_90", {"vec": 4, "lanes": 8, "feat_tile": 32})
    assert ("float4" in source) == vector
    assert compile_cubin(source, "sm_90")


def test_cuda_int64_indices_and_unary_ops():
    node, _ = sparse_node("spmm", ADJ64, [("adj", ()), ("src", (16,))], reduce="sum")
    source = generate_cuda_source(node, index_dtype="int64")
    assert "int64_t" in source
    compile_cubin(source)
    b_nodes = [dense_node(op, [R(4, 5)])[0] for op in ("elu", "softplus", "rsqrt_or_zero", "silu", "tanh")]
    for n in b_nodes:
        compile_cubin(generate_cuda_source(n))


def test_cuda_kernel_metadata():
    node, _ = NODES["spmm"]
    kernel = build_kernel(node, Target("cuda", "sm_90"))
    assert kernel.config == default_config(node, Target("cuda", "sm_90"))
    assert kernel.name == "spmm_mean_ew_h2c40_i32"
    assert "T.thread_binding" in kernel.script()


def test_nvcc_error_is_reported():
    with pytest.raises(CodegenError, match="nvcc"):
        compile_cubin("this is not cuda")


WIDE = sparse_node("spmm", ADJ, [("adj", ()), ("src", (64,)), ("nnz", ())], reduce="max")[0]


@pytest.mark.parametrize(("config", "marks"), [
    # 16-byte vectors: float4 loads of the gathered rows and float4 stores
    ({"vec": 4, "lanes": 16, "feat_tile": 64}, ["*(float4*)(x_ptr", "*(float4*)(out_ptr"]),
    # edge groups: a shuffle butterfly over the row's lanes (8 lanes of 4 rows: masks shifted per row)
    ({"edge_lanes": 4, "lanes": 8, "feat_tile": 32}, ["__shfl_xor_sync", "<<"]),
    # staged in-edges: one coalesced index load per chunk, handed round by shuffles
    ({"stage": True, "col_parts": 4}, ["__shfl_sync((uint)4294967295, held_ptr[0]", "held_ptr[1]"]),
    ({"group": 32, "buckets": True, "edge_lanes": 2, "vec": 4, "lanes": 8, "feat_tile": 32},
     ["__shfl_xor_sync", "float4"]),
], ids=str)
def test_cuda_spmm_techniques_in_the_source(config, marks):
    """Each CUDA knob shows up in the generated code as the technique it names, and compiles."""
    source = generate_cuda_source(WIDE, "sm_90", config)
    for mark in marks:
        assert mark in source, mark
    compile_cubin(source, "sm_90")


def test_cuda_vectors_fall_back_for_odd_widths():
    node, _ = NODES["scatter"]  # 70 features: not whole float4s
    source = generate_cuda_source(node, "sm_90", {"vec": 4, "lanes": 8, "feat_tile": 32})
    assert "float4" not in source
    compile_cubin(source, "sm_90")


def test_cuda_plain_walk_stages_sources_only():
    source = generate_cuda_source(WIDE, "sm_90", {"stage": True})
    assert source.count("__shfl_sync((uint)4294967295") == 1  # the edge position is the loop's own
