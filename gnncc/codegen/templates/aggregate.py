"""spmm and scatter: reduce each destination row's in-edges (CSR walk), one template.

``spmm`` gathers source rows ``x[src[e]]`` (optionally scaled by edge values); ``scatter``
reduces the edge rows ``m[e]`` themselves: the same walk with the gather switched off.
Each feature tile is accumulated in registers across the row's edges, then finished
(mean divides by the in-degree, max gives 0 on empty rows). ``fused_spmm`` is spmm plus an
epilogue (bias, activation, scaling, residual: see ``gnncc.ir.ops``) applied to each finished
value before it is stored. (``attention_spmm``, the same walk with edge weights computed by an
online softmax, has its own template: ``attention``.)
"""

from __future__ import annotations

from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    FP32,
    REDUCERS,
    Call,
    bucket_units,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    feature_tiles,
    kernel_func,
    lane_guard,
    lane_loop,
    sparse_rows,
    work,
)
from gnncc.ir.adjacency import bucket_count
from gnncc.ir.ops import parse_epilogue

VIEW = "rows"


# ELL buckets up to this width walk their edges in a fully unrolled fixed-width loop (loads in flight
# together); wider ones keep the data-dependent loop.
UNROLL_WIDTH = 32


def layout(config: dict[str, Any]) -> tuple[int, bool]:
    """The adjacency layout the kernel takes: the neighbour group size (``Adjacency.segments``; 0 for
    plain CSR) and whether the segments' degree buckets (``Adjacency.buckets``) come too."""
    group = config.get("group", 0)
    return group, bool(group and config.get("buckets", False))


def _weighted(spec: KernelSpec) -> bool:
    """Whether the walk scales source rows by edge values (spmm with three operands, fused_spmm's flag)."""
    return bool(dict(spec.attrs).get("weighted", spec.op == "spmm" and len(spec.inputs) == 3))


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    gather = spec.op != "scatter"
    transform = spec.op == "spmm_matmul"
    weighted = _weighted(spec)
    steps = parse_epilogue(dict(spec.attrs).get("epilogue", ()))
    feats = spec.inputs[1] if gather else spec.inputs[0]
    idx, dtype = spec.index_dtype, spec.output.dtype
    width = feats.width
    out_width = spec.output.width
    tile_rows = spec.attr("tile_rows") if transform else 1
    heads = feats.shape[1] if len(feats.shape) == 3 else 1
    per_head = width // heads
    reduce = spec.attr("reduce")
    if dtype != FP32 and reduce == "mean":
        raise spec.fail("reduce 'mean' needs float32 messages")
    red = REDUCERS[reduce]
    lanes = config["lanes"] if cuda else 1
    ftile = min(config["feat_tile"], width)
    n_full, rem = divmod(width, ftile)
    jloop = lane_loop(cuda, config.get("vectorize", False))
    rows = None if transform else sparse_rows(cuda, config)  # spmm_matmul blocks rows itself

    def source(indices, e):
        return indices[e] if gather else e

    def message(x, w, e, src, f):
        if not weighted:
            return x[src, f]
        return x[src, f] * w[e, 0 if heads == 1 else f // per_head]

    def make_units(b_indptr, b_indices, b_x, b_w, b_out, finish, seg):
        """Work-unit bodies ``(unit, lane, f0, extent)``: ``[row]``, or (spmm_matmul) ``[row into a tile]``
        (with a fifth parameter, the tile), or (grouped) ``[segment, combine]``, or
        (bucketed) ``[segment of bucket 0, ..., of the last bucket, combine]``. ``seg`` is None or
        ``(seg_ptr, seg_row, row_seg, split_rows, partial, order, bucket_ptr)`` (the last two None
        without buckets)."""
        def feature(j, lane, f0):
            return f0 + j * lanes + lane

        @T.macro
        def init(acc, extent):
            for j in jloop(ceildiv(extent, lanes)):
                acc[j] = red.init(dtype)

        @T.macro
        def add_edge(acc, lane, f0, extent, e):
            src = source(b_indices, e)
            for j in jloop(ceildiv(extent, lanes)):
                if lane_guard(lanes, j, lane, extent):
                    acc[j] = red.combine(acc[j], message(b_x, b_w, e, src, feature(j, lane, f0)))

        def accumulate(width):
            """Macro folding edges ``[e_begin, e_end)`` into ``acc``: a data-dependent loop, or for an
            ELL bucket of at most ``width`` edges a fixed, unrolled one."""
            if width is None or width > UNROLL_WIDTH:
                @T.macro
                def walk(acc, lane, f0, extent, e_begin, e_end):
                    init(acc, extent)
                    for e in range(e_begin, e_end):
                        add_edge(acc, lane, f0, extent, e)

                return walk

            @T.macro
            def walk_fixed(acc, lane, f0, extent, e_begin, e_end):
                init(acc, extent)
                for k in T.unroll(width):
                    if e_begin + k < e_end:
                        add_edge(acc, lane, f0, extent, e_begin + k)

            return walk_fixed

        @T.macro
        def store_into(acc, dest, r, v, lane, f0, extent):
            # row v's finished values (reduction finish, epilogue) -> row r of dest
            for j in jloop(ceildiv(extent, lanes)):
                if lane_guard(lanes, j, lane, extent):
                    dest[r, feature(j, lane, f0)] = finish(
                        red.finish(acc[j], b_indptr[v + 1] - b_indptr[v], dtype), v, feature(j, lane, f0))

        @T.macro
        def store(acc, v, lane, f0, extent):
            store_into(acc, b_out, v, v, lane, f0, extent)

        walk_rows = accumulate(None)

        @T.macro
        def row_unit(v, lane, f0, extent):
            acc = T.alloc_buffer((ceildiv(extent, lanes),), dtype, scope="local")
            walk_rows(acc, lane, f0, extent, b_indptr[v], b_indptr[v + 1])
            store(acc, v, lane, f0, extent)

        @T.macro
        def tile_unit(v, lane, f0, extent, tile):
            # spmm_matmul: row v aggregated into its row of an on-chip tile of tile_rows rows
            acc = T.alloc_buffer((ceildiv(extent, lanes),), dtype, scope="local")
            walk_rows(acc, lane, f0, extent, b_indptr[v], b_indptr[v + 1])
            store_into(acc, tile, v % tile_rows, v, lane, f0, extent)

        if transform:
            return [tile_unit]
        if seg is None:
            return [row_unit]
        seg_ptr, seg_row, row_seg, split_rows, partial, order, bucket_ptr = seg

        def segment_unit(segment_of, width):
            """Phase 1 over segments ``segment_of(i)``: a whole row is finished at once, a split row's
            segments leave partials for the combine."""
            walk = accumulate(width)

            @T.macro
            def unit(i, lane, f0, extent):
                acc = T.alloc_buffer((ceildiv(extent, lanes),), dtype, scope="local")
                s = segment_of(i)
                v = seg_row[s]
                walk(acc, lane, f0, extent, seg_ptr[s], seg_ptr[s + 1])
                if row_seg[v + 1] - row_seg[v] == 1:
                    store(acc, v, lane, f0, extent)
                else:
                    for j in jloop(ceildiv(extent, lanes)):
                        if lane_guard(lanes, j, lane, extent):
                            partial[s, feature(j, lane, f0)] = acc[j]

            return unit

        @T.macro
        def combine_unit(k, lane, f0, extent):
            acc = T.alloc_buffer((ceildiv(extent, lanes),), dtype, scope="local")
            v = split_rows[k]
            init(acc, extent)
            for s in range(row_seg[v], row_seg[v + 1]):
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        acc[j] = red.combine(acc[j], partial[s, feature(j, lane, f0)])
            store(acc, v, lane, f0, extent)

        if order is None:
            return [segment_unit(lambda i: i, None), combine_unit]
        return [*(segment_unit(lambda i, b=b: order[bucket_ptr[b] + i], 1 << b) for b in range(n_buckets)),
                combine_unit]

    def transform_launch(indptr, weight, out, tile_unit):
        """spmm_matmul: blocks of ``tile_rows`` rows; each row aggregated into an on-chip tile (CUDA
        shared memory; a per-task buffer on CPU), then the tile times ``weight`` into ``out``."""
        out_tiles = ceildiv(out_width, lanes)

        @T.macro
        def aggregate_row(v, lane, tile):
            for ft in range(n_full):
                tile_unit(v, lane, ft * ftile, ftile, tile)
            if rem > 0:
                tile_unit(v, lane, n_full * ftile, rem, tile)

        @T.macro
        def transform_row(v, lane, tile):
            o = T.alloc_buffer((out_tiles,), dtype, scope="local")
            for j in jloop(out_tiles):
                o[j] = T.Cast(dtype, 0)
            for k in range(width):
                for j in jloop(out_tiles):
                    if lane_guard(lanes, j, lane, out_width):
                        o[j] = o[j] + tile[v % tile_rows, k] * weight[k, j * lanes + lane]
            for j in jloop(out_tiles):
                if lane_guard(lanes, j, lane, out_width):
                    out[v, j * lanes + lane] = o[j]

        blocks = (indptr.shape[0] - 1 + tile_rows - 1) // tile_rows
        n = indptr.shape[0] - 1
        if cuda:
            @T.macro
            def run_gpu():
                for bx in T.thread_binding(blocks, thread="blockIdx.x"):
                    for ty in T.thread_binding(tile_rows, thread="threadIdx.y"):
                        for tx in T.thread_binding(lanes, thread="threadIdx.x"):
                            tile = T.alloc_buffer((tile_rows, width), dtype, scope="shared")
                            if bx * tile_rows + ty < n:
                                aggregate_row(bx * tile_rows + ty, tx, tile)
                            if bx * tile_rows + ty < n:  # TVM puts the block's barrier before this
                                transform_row(bx * tile_rows + ty, tx, tile)

            return run_gpu
        outer = T.parallel if config["parallel"] else T.serial

        @T.macro
        def run_cpu():
            for blk in outer(blocks):
                tile = T.alloc_buffer((tile_rows, width), dtype)
                for r in T.serial(tile_rows):
                    if blk * tile_rows + r < n:
                        aggregate_row(blk * tile_rows + r, 0, tile)
                for r in T.serial(tile_rows):
                    if blk * tile_rows + r < n:
                        transform_row(blk * tile_rows + r, 0, tile)

        return run_cpu

    def tiled(unit):
        return feature_tiles(unit, width, config["feat_tile"])

    group, bucketed = layout(config)
    grouped = group > 0
    n_buckets = bucket_count(group) if bucketed else 0
    seg_layout = [("seg_ptr", ("n_seg + 1",), idx), ("seg_row", ("n_seg",), idx), ("row_seg", ("n + 1",), idx),
                  ("split_rows", ("n_split",), idx)] if grouped else []
    bucket_layout = [("order", ("n_seg",), idx), ("bucket_ptr", (n_buckets + 1,), idx)] if bucketed else []
    adj_layout = seg_layout + bucket_layout
    buffers = [("indptr", ("n + 1",), idx), ("indices", ("nnz",), idx), *adj_layout,
               ("x", ("n_src" if gather else "nnz", width), dtype),
               *([("w", ("nnz", heads), dtype)] if weighted else []),
               *epilogue_buffers(steps, width), *([("weight", (width, out_width), dtype)] if transform else []),
               ("out", ("n", out_width), dtype)]

    # grouped: partials of split rows' segments, indexed by segment (a row of one segment writes none)
    workspace = [("partial", ("n_seg", width), dtype)] if grouped else []

    def launch(indptr, indices, *rest):
        layout_buffers, (x, *rest) = rest[:len(adj_layout)], rest[len(adj_layout):]
        w = rest[0] if weighted else None
        out = rest[-1 - len(workspace)]
        finish = epilogue(steps, rest[int(weighted):-1 - len(workspace) - int(transform)])

        if transform:
            (tile_unit,) = make_units(indptr, indices, x, w, out, finish, None)
            return transform_launch(indptr, rest[-2], out, tile_unit)
        if not grouped:
            (row_unit,) = make_units(indptr, indices, x, w, out, finish, None)

            @T.macro
            def run():
                rows(indptr.shape[0] - 1, work(indices.shape[0], width), tiled(row_unit))

            return run

        seg_ptr, seg_row, row_seg, split_rows, *buckets = layout_buffers
        order, bucket_ptr = buckets if bucketed else (None, None)
        *segment_units, combine_unit = make_units(
            indptr, indices, x, w, out, finish, (seg_ptr, seg_row, row_seg, split_rows, rest[-1], order, bucket_ptr))
        edges = work(indices.shape[0], width)
        if bucketed:
            segments_pass = bucket_units(cuda, config)(bucket_ptr, seg_row.shape[0], edges,
                                                       [tiled(u) for u in segment_units])
        else:
            @T.macro
            def segments_pass():
                rows(seg_row.shape[0], edges, tiled(segment_units[0]))

        @T.macro
        def run_grouped():
            segments_pass()
            if split_rows.shape[0] > 0:  # a CUDA grid of no blocks is a launch error
                rows(split_rows.shape[0], work(seg_row.shape[0], width), tiled(combine_unit))

        return run_grouped

    sizes = ("n", "nnz", "n_src", *(("n_seg", "n_split") if grouped else ()))
    func = kernel_func(name, buffers, sizes, idx, launch, workspace)
    # spmm: (A, x[, w], epilogue operands...) -> indptr, indices[, layout], x, ...;
    # scatter: (m, A) -> m, indptr, indices[, layout], out
    adj_args = 2 + len(adj_layout)
    args = tuple(range(len(buffers))) if gather else (*range(1, adj_args + 1), 0, adj_args + 1)
    return [Call(name, func, args)]


def name_tokens(spec: KernelSpec) -> list[str]:
    feats = spec.inputs[0] if spec.op == "scatter" else spec.inputs[1]
    shape = f"h{feats.shape[1]}c{feats.shape[2]}" if len(feats.shape) == 3 else f"f{feats.width}"
    transform = [f"to{spec.output.width}", f"r{spec.attr('tile_rows')}"] if spec.op == "spmm_matmul" else []
    return [spec.attr("reduce"), *(["ew"] if _weighted(spec) else []), shape,
            *epilogue_tokens(parse_epilogue(dict(spec.attrs).get("epilogue", ()))), *transform]
