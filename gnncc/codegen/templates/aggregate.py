"""spmm and scatter: reduce each destination row's in-edges (CSR walk), one template.

``spmm`` gathers source rows ``x[src[e]]`` (optionally scaled by edge values); ``scatter``
reduces the edge rows ``m[e]`` themselves: the same walk with the gather switched off.
Each feature tile is accumulated in registers across the row's edges, then finished
(mean divides by the in-degree, max gives 0 on empty rows).
"""

from __future__ import annotations

from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    ALIGN,
    FP32,
    REDUCERS,
    Call,
    ceildiv,
    lane_guard,
    lane_loop,
    size_var,
    sparse_rows,
    work,
)

VIEW = "rows"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    gather = spec.op == "spmm"
    weighted = gather and len(spec.inputs) == 3
    feats = spec.inputs[1] if gather else spec.inputs[0]
    idx, dtype = spec.index_dtype, spec.output.dtype
    width = feats.width
    heads = feats.shape[1] if len(feats.shape) == 3 else 1
    per_head = width // heads
    reduce = spec.attr("reduce")
    if dtype != FP32 and reduce == "mean":
        raise spec.fail("reduce 'mean' needs float32 messages")
    red = REDUCERS[reduce]
    lanes = config["lanes"] if cuda else 1
    tile = min(config["feat_tile"], width)
    n_full, rem = divmod(width, tile)
    jloop = lane_loop(cuda, config.get("vectorize", False))
    rows = sparse_rows(cuda, config)
    svar = size_var(idx)

    def source(indices, e):
        return indices[e] if gather else e

    def message(x, w, e, src, f):
        if not weighted:
            return x[src, f]
        return x[src, f] * w[e, 0 if heads == 1 else f // per_head]

    def make_body(b_indptr, b_indices, b_x, b_w, b_out):
        @T.macro
        def tile_body(v, lane, f0, extent):
            acc = T.alloc_buffer((ceildiv(extent, lanes),), dtype, scope="local")
            for j in jloop(ceildiv(extent, lanes)):
                acc[j] = red.init(dtype)
            for e in range(b_indptr[v], b_indptr[v + 1]):
                src = source(b_indices, e)
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        acc[j] = red.combine(acc[j], message(b_x, b_w, e, src, f0 + j * lanes + lane))
            for j in jloop(ceildiv(extent, lanes)):
                if lane_guard(lanes, j, lane, extent):
                    b_out[v, f0 + j * lanes + lane] = red.finish(acc[j], b_indptr[v + 1] - b_indptr[v], dtype)

        @T.macro
        def body(v, lane, t_lanes):
            for ft in range(n_full):
                tile_body(v, lane, ft * tile, tile)
            if rem > 0:
                tile_body(v, lane, n_full * tile, rem)

        return body

    if weighted:
        @T.prim_func
        def weighted_fn(
            a_indptr: T.handle, a_indices: T.handle, a_x: T.handle, a_w: T.handle, a_out: T.handle
        ):
            T.func_attr({"global_symbol": name, "tir.noalias": True})
            n = svar()
            nnz = svar()
            n_src = svar()
            indptr = T.match_buffer(a_indptr, (n + 1,), idx, align=ALIGN)
            indices = T.match_buffer(a_indices, (nnz,), idx, align=ALIGN)
            x = T.match_buffer(a_x, (n_src, width), dtype, align=ALIGN)
            w = T.match_buffer(a_w, (nnz, heads), dtype, align=ALIGN)
            out = T.match_buffer(a_out, (n, width), dtype, align=ALIGN)
            rows(n, work(nnz, width), make_body(indptr, indices, x, w, out))

        return [Call(name, weighted_fn, (0, 1, 2, 3, 4))]

    @T.prim_func
    def plain_fn(a_indptr: T.handle, a_indices: T.handle, a_x: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        n = svar()
        nnz = svar()
        x_rows = svar()
        indptr = T.match_buffer(a_indptr, (n + 1,), idx, align=ALIGN)
        indices = T.match_buffer(a_indices, (nnz,), idx, align=ALIGN)
        x = T.match_buffer(a_x, (x_rows, width), dtype, align=ALIGN)
        out = T.match_buffer(a_out, (n, width), dtype, align=ALIGN)
        rows(n, work(nnz, width), make_body(indptr, indices, x, None, out))

    # spmm: (A, x) -> indptr, indices, x, out; scatter: (m, A) -> m, indptr, indices, out
    return [Call(name, plain_fn, (0, 1, 2, 3) if gather else (1, 2, 0, 3))]


def name_tokens(spec: KernelSpec) -> list[str]:
    feats = spec.inputs[1] if spec.op == "spmm" else spec.inputs[0]
    shape = f"h{feats.shape[1]}c{feats.shape[2]}" if len(feats.shape) == 3 else f"f{feats.width}"
    return [spec.attr("reduce"), *(["ew"] if len(spec.inputs) == 3 else []), shape]
