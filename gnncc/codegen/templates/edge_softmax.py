"""edge_softmax: softmax over each destination's in-edges, per head, numerically stable.

Three passes over the row's edges: the maximum, the sum of shifted exponentials, the
normalised values. On CUDA the ``lanes`` threads of a row split its heads.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    ALIGN,
    FP32,
    Call,
    ceildiv,
    exp_of,
    lane_guard,
    scratch_scope,
    size_var,
    sparse_rows,
    work,
)

VIEW = "rows"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    idx = spec.index_dtype
    if spec.output.dtype != FP32:
        raise spec.fail("edge_softmax needs float32 scores")
    heads = spec.output.width
    lanes = config["lanes"] if cuda else 1
    rows = sparse_rows(cuda, config)
    svar = size_var(idx)
    lowest = tvm.tirx.min_value(FP32)
    exp = exp_of(cuda)

    def make_body(b_indptr, b_s, b_out):
        @T.macro
        def body(v, lane, mask):
            for j in T.serial(ceildiv(heads, lanes)):
                if lane_guard(lanes, j, lane, heads):
                    h = j * lanes + lane
                    stat = T.alloc_buffer((2,), FP32, scope=scratch)  # running max, sum of exps
                    stat[0] = lowest
                    for e in range(b_indptr[v], b_indptr[v + 1]):
                        stat[0] = T.max(stat[0], b_s[e, h])
                    stat[1] = T.float32(0)
                    for e in range(b_indptr[v], b_indptr[v + 1]):
                        stat[1] = stat[1] + exp(b_s[e, h] - stat[0])
                    for e in range(b_indptr[v], b_indptr[v + 1]):
                        b_out[e, h] = exp(b_s[e, h] - stat[0]) / stat[1]

        return body

    @T.prim_func
    def edge_softmax_fn(a_indptr: T.handle, a_indices: T.handle, a_s: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        n_ptr = svar()  # n + 1
        nnz = svar()
        indptr = T.match_buffer(a_indptr, (n_ptr,), idx, align=ALIGN)
        T.match_buffer(a_indices, (nnz,), idx, align=ALIGN)
        s = T.match_buffer(a_s, (nnz, heads), FP32, align=ALIGN)
        out = T.match_buffer(a_out, (nnz, heads), FP32, align=ALIGN)
        rows(n_ptr - 1, work(nnz, 3 * heads), make_body(indptr, s, out))

    return [Call(name, edge_softmax_fn, (0, 1, 2, 3))]


def name_tokens(spec: KernelSpec) -> list[str]:
    return [f"h{spec.output.width}"]
