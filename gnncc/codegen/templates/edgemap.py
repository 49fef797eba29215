"""gather and sddmm: a per-edge map over a CSR row walk, one template.

Walking destination rows gives each edge its destination for free, so
``out[e] = f(u[src[e]], w[dst[e]])`` needs no destination array: ``gather`` reads one end,
``sddmm`` combines both (``add``/``mul`` per feature, ``dot`` reduces the last axis).

A ``dot`` is split into partial sums so that it is not one chain of dependent adds: on CPU,
``dot_lanes`` of them in a vector register, added up by halving (the strictly ordered scalar
sum ran 2-7x slower than torch's CPU SDDMM), for ``dot_edges`` edges of a row side by side (one
edge at a time left a single source row's loads in flight: 0.77x torch at F=512); on CUDA, the
``lanes`` threads of an edge take every ``lanes``-th element, loads coalesced, and a
warp-shuffle butterfly adds their sums. On CPU the walk prefetches the source rows of later edges
(``prefetch``, see ``common.gather_prefetch``).
"""

from __future__ import annotations

from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    ALIGN,
    BINARY,
    FP32,
    Call,
    ceildiv,
    gather_prefetch,
    halving_sum,
    lane_guard,
    lane_loop,
    scratch_scope,
    size_var,
    sparse_rows,
    work,
)

VIEW = "rows"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    is_gather = spec.op == "gather"
    kind = spec.attr("end") if is_gather else spec.attr("op")
    operand = spec.inputs[0] if is_gather else spec.inputs[1]
    idx, dtype = spec.index_dtype, spec.output.dtype
    if not is_gather and dtype != FP32:
        raise spec.fail("sddmm needs float32 operands")
    dot = kind == "dot"
    depth = operand.shape[-1] if dot else 1  # elements reduced per output feature
    width = operand.width // depth  # output features per edge
    lanes = config["lanes"] if cuda else 1
    tile = width if cuda else max(1, min(config["feat_tile"], width))
    n_full, rem = divmod(width, tile)
    jloop = T.serial if dot or cuda else lane_loop(False, config["vectorize"])
    rows = sparse_rows(cuda, config)
    svar = size_var(idx)
    parts = 1  # a dot's partial sums: one per lane on CUDA; on CPU a power of two, for the halving sum
    if dot:
        parts = lanes if cuda else 1 << (min(config["dot_lanes"], depth).bit_length() - 1)
    chunks, tail = divmod(depth, parts)
    together = config.get("dot_edges", 1) if dot and not cuda else 1  # edges whose dots run side by side
    # the source rows a later edge reads (all of u's row: every output feature is walked per edge)
    ahead = gather_prefetch(cuda, config if kind != "dst" else {}, dtype, at_least=together)

    def value(u, w, src, v, f):
        if kind == "src":
            return u[src, f]
        if kind == "dst":
            return w[v, f]
        return BINARY[kind](u[src, f], w[v, f])

    sum_parts = halving_sum(parts)

    def make_body(b_indptr, b_indices, b_u, b_w, b_out):
        def product(src, v, k):
            return b_u[src, k] * b_w[v, k]

        @T.macro
        def cpu_dot(e0, count, v, f):
            # output feature f of the `count` edges from e0 (one row's): their partial sums side by
            # side, so the gathers of several source rows are in flight and w[v] is loaded once
            acc = T.alloc_buffer((count, parts), dtype, scope=scratch)
            for q in range(count):
                for p in T.vectorized(parts):
                    acc[q, p] = T.float32(0)
            for c in range(chunks):
                for q in T.unroll(count):
                    for p in T.vectorized(parts):
                        acc[q, p] = acc[q, p] + product(b_indices[e0 + q], v, f * depth + c * parts + p)
            for q in range(count):
                for p in range(tail):
                    acc[q, p] = acc[q, p] + product(b_indices[e0 + q], v, f * depth + chunks * parts + p)
                sum_parts(acc, q)
                b_out[e0 + q, f] = acc[q, 0]

        @T.macro
        def cuda_dot(e, src, v, lane, mask, f):
            acc = T.alloc_buffer((1,), dtype, scope="local")
            other = T.alloc_buffer((1,), dtype, scope="local")
            acc[0] = T.float32(0)
            for c in range(ceildiv(depth, parts)):
                if c * parts + lane < depth:
                    acc[0] = acc[0] + product(src, v, f * depth + c * parts + lane)
            for s in T.unroll(parts.bit_length() - 1):  # lanes is a power of two
                other[0] = T.tvm_warp_shuffle_xor(mask, acc[0], 1 << s, parts, 32)
                acc[0] = acc[0] + other[0]
            if lane == 0:
                b_out[e, f] = acc[0]

        @T.macro
        def tile_body(e, src, v, lane, f0, extent):
            for j in jloop(ceildiv(extent, lanes)):
                if lane_guard(lanes, j, lane, extent):
                    b_out[e, f0 + j * lanes + lane] = value(b_u, b_w, src, v, f0 + j * lanes + lane)

        def source(p):
            return b_indices[p]

        @T.macro
        def fetch(e, count):
            for q in T.unroll(count):
                ahead(b_u, source, e + q, b_indices.shape[0] - 1, 0, width * depth)

        @T.macro
        def tiles(e, src, v, lane):
            for ft in range(n_full):
                tile_body(e, src, v, lane, ft * tile, tile)
            if rem > 0:
                tile_body(e, src, v, lane, n_full * tile, rem)

        @T.macro
        def body(v, lane, mask):
            if dot and not cuda:
                # `together` edges at a time, then the row's last ones alone
                for g in range((b_indptr[v + 1] - b_indptr[v]) // together):
                    fetch(b_indptr[v] + g * together, together)
                    for f in range(width):
                        cpu_dot(b_indptr[v] + g * together, together, v, f)
                for e in range(b_indptr[v + 1] - (b_indptr[v + 1] - b_indptr[v]) % together, b_indptr[v + 1]):
                    fetch(e, 1)
                    for f in range(width):
                        cpu_dot(e, 1, v, f)
            elif not cuda:
                # the source index inline: LLVM kept a let-bound one in memory (see aggregate)
                for e in range(b_indptr[v], b_indptr[v + 1]):
                    fetch(e, 1)
                    tiles(e, b_indices[e], v, lane)
            else:
                for e in range(b_indptr[v], b_indptr[v + 1]):
                    src = b_indices[e]
                    if dot:
                        for f in range(width):
                            cuda_dot(e, src, v, lane, mask, f)
                    else:
                        tiles(e, src, v, lane)

        return body

    if is_gather:
        @T.prim_func
        def gather_fn(a_indptr: T.handle, a_indices: T.handle, a_x: T.handle, a_out: T.handle):
            T.func_attr({"global_symbol": name, "tir.noalias": True})
            n_ptr = svar()  # n + 1
            nnz = svar()
            x_rows = svar()
            indptr = T.match_buffer(a_indptr, (n_ptr,), idx, align=ALIGN)
            indices = T.match_buffer(a_indices, (nnz,), idx, align=ALIGN)
            x = T.match_buffer(a_x, (x_rows, width), dtype, align=ALIGN)
            out = T.match_buffer(a_out, (nnz, width), dtype, align=ALIGN)
            rows(n_ptr - 1, work(nnz, width), make_body(indptr, indices, x, x, out))

        return [Call(name, gather_fn, (1, 2, 0, 3))]  # node order: (x, A)

    @T.prim_func
    def sddmm_fn(a_indptr: T.handle, a_indices: T.handle, a_u: T.handle, a_w: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        n = svar()
        nnz = svar()
        n_src = svar()
        indptr = T.match_buffer(a_indptr, (n + 1,), idx, align=ALIGN)
        indices = T.match_buffer(a_indices, (nnz,), idx, align=ALIGN)
        u = T.match_buffer(a_u, (n_src, width * depth), dtype, align=ALIGN)
        w = T.match_buffer(a_w, (n, width * depth), dtype, align=ALIGN)
        out = T.match_buffer(a_out, (nnz, width), dtype, align=ALIGN)
        rows(n, work(nnz, width * depth), make_body(indptr, indices, u, w, out))

    return [Call(name, sddmm_fn, (0, 1, 2, 3, 4))]


def name_tokens(spec: KernelSpec) -> list[str]:
    if spec.op == "gather":
        return [spec.attr("end"), f"f{spec.inputs[0].width}"]
    operand = spec.inputs[1]
    return [spec.attr("op"), "x".join(str(d) for d in operand.shape[1:]) or "s"]
