"""spmm and scatter: reduce each destination row's in-edges (CSR walk), one template.

``spmm`` gathers source rows ``x[src[e]]`` (optionally scaled by edge values); ``scatter``
reduces the edge rows ``m[e]`` themselves: the same walk with the gather switched off.
Each feature tile is accumulated in registers across the row's edges, then finished
(mean divides by the in-degree, max gives 0 on empty rows). ``fused_spmm`` is spmm plus an
epilogue (bias, activation, scaling, residual: see ``gnncc.ir.ops``) applied to each finished
value before it is stored; ``attention_spmm``, the same walk with edge weights computed by an
online softmax, is built by ``attention`` (it shares this family's schedule space).
"""

from __future__ import annotations

from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates import attention
from gnncc.codegen.templates.common import (
    FP32,
    REDUCERS,
    Call,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    kernel_func,
    lane_guard,
    lane_loop,
    sparse_rows,
    work,
)
from gnncc.ir.ops import parse_epilogue

VIEW = "rows"


def _weighted(spec: KernelSpec) -> bool:
    """Whether the walk scales source rows by edge values (spmm with three operands, fused_spmm's flag)."""
    return bool(dict(spec.attrs).get("weighted", spec.op == "spmm" and len(spec.inputs) == 3))


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    if spec.op == "attention_spmm":
        return attention.build(spec, name, cuda, config)
    gather = spec.op != "scatter"
    weighted = _weighted(spec)
    steps = parse_epilogue(dict(spec.attrs).get("epilogue", ()))
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

    def source(indices, e):
        return indices[e] if gather else e

    def message(x, w, e, src, f):
        if not weighted:
            return x[src, f]
        return x[src, f] * w[e, 0 if heads == 1 else f // per_head]

    def make_body(b_indptr, b_indices, b_x, b_w, b_out, finish):
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
                    b_out[v, f0 + j * lanes + lane] = finish(
                        red.finish(acc[j], b_indptr[v + 1] - b_indptr[v], dtype), v, f0 + j * lanes + lane)

        @T.macro
        def body(v, lane, t_lanes):
            for ft in range(n_full):
                tile_body(v, lane, ft * tile, tile)
            if rem > 0:
                tile_body(v, lane, n_full * tile, rem)

        return body

    buffers = [("indptr", ("n + 1",), idx), ("indices", ("nnz",), idx),
               ("x", ("n_src" if gather else "nnz", width), dtype),
               *([("w", ("nnz", heads), dtype)] if weighted else []),
               *epilogue_buffers(steps, width), ("out", ("n", width), dtype)]

    def launch(indptr, indices, x, *rest):
        w = rest[0] if weighted else None
        body = make_body(indptr, indices, x, w, rest[-1], epilogue(steps, rest[int(weighted):-1]))

        @T.macro
        def run():
            rows(indptr.shape[0] - 1, work(indices.shape[0], width), body)

        return run

    func = kernel_func(name, buffers, ("n", "nnz", "n_src"), idx, launch)
    # spmm: (A, x[, w], epilogue operands...) -> indptr, indices, x, ...; scatter: (m, A) -> m, indptr, indices
    return [Call(name, func, tuple(range(len(buffers))) if gather else (1, 2, 0, 3))]


def name_tokens(spec: KernelSpec) -> list[str]:
    if spec.op == "attention_spmm":
        return attention.name_tokens(spec)
    feats = spec.inputs[0] if spec.op == "scatter" else spec.inputs[1]
    shape = f"h{feats.shape[1]}c{feats.shape[2]}" if len(feats.shape) == 3 else f"f{feats.width}"
    return [spec.attr("reduce"), *(["ew"] if _weighted(spec) else []), shape,
            *epilogue_tokens(parse_epilogue(dict(spec.attrs).get("epilogue", ())))]
