"""spmm and scatter: reduce each destination row's in-edges (CSR walk), one template.

``spmm`` gathers source rows ``x[src[e]]`` (optionally scaled by edge values, or with ``edge_op="add"``
plus an edge row ``w[e]``, with ``dst_op="sub"`` minus the destination's row ``d[v]`` (read once per unit
into registers, not per edge), and then through ``message_act``: GINE's ``relu(x_j + e_ji)``, PNA's
two-pass variance ``(x_j - mu_i)^2``); ``scatter``
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
    NO_MASK,
    REDUCERS,
    Call,
    bucket_units,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    feature_tiles,
    gather_prefetch,
    kernel_func,
    lane_guard,
    lane_loop,
    row_mask,
    scratch_scope,
    sequence,
    sparse_rows,
    spec_epilogue,
    unary,
    work,
)
from gnncc.ir.adjacency import bucket_count
from gnncc.ir.ops import parse_epilogue

VIEW = "rows"


# ELL buckets up to this width walk their edges in a fully unrolled fixed-width loop (loads in flight
# together); wider ones keep the data-dependent loop.
UNROLL_WIDTH = 32


def layout(spec: KernelSpec, config: dict[str, Any]) -> tuple[int, bool, int]:
    """The adjacency layout the kernel takes: the neighbour group size (``Adjacency.segments``; 0 for
    plain CSR), whether the segments' degree buckets (``Adjacency.buckets``) come too, and the number of
    column partitions (``Adjacency.columns``; 0: none). ``scatter`` gathers no source rows, so it
    ignores column partitioning."""
    group = config.get("group", 0)
    columns = config.get("col_parts", 0) if spec.op != "scatter" else 0
    return group, bool(group and config.get("buckets", False)), columns


def _weighted(spec: KernelSpec) -> bool:
    """Whether the walk scales source rows by edge values (spmm with three operands, fused_spmm's flag)."""
    return bool(dict(spec.attrs).get("weighted", spec.op == "spmm" and len(spec.inputs) == 3))


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    gather = spec.op != "scatter"
    transform = spec.op == "spmm_matmul"
    weighted = _weighted(spec)
    steps = spec_epilogue(spec)
    feats = spec.inputs[1] if gather else spec.inputs[0]
    idx, dtype = spec.index_dtype, spec.output.dtype
    # x_cols: the aggregated columns x0..x0+width of rows of x_width (a merged matmul's output)
    x_cols = dict(spec.attrs).get("x_cols", ())
    x0, x_width = (x_cols[0] if x_cols else 0), feats.width
    width = x_cols[1] - x_cols[0] if x_cols else feats.width
    out_width = spec.output.width
    tile_rows = spec.attr("tile_rows") if transform else 1
    heads = feats.shape[1] if len(feats.shape) == 3 else 1
    per_head = width // heads
    reduce = spec.attr("reduce")
    if dtype != FP32 and reduce == "mean":
        raise spec.fail("reduce 'mean' needs float32 messages")
    red = REDUCERS[reduce]
    lanes = config["lanes"] if cuda else 1
    edge_lanes = config.get("edge_lanes", 1) if cuda else 1
    feat_lanes = lanes // edge_lanes
    add_edges = dict(spec.attrs).get("edge_op", "mul") == "add"  # w: one value per edge and feature
    subtract_dst = bool(dict(spec.attrs).get("dst_op"))  # d: one row per destination, subtracted from messages
    n_message = int(weighted) + int(subtract_dst)  # operands between x and the epilogue's
    act_step = parse_epilogue([spec.attr("message_act")])[0] if dict(spec.attrs).get("message_act") else None
    act = unary(act_step.op, cuda) if act_step else None
    # 16-byte vectors need rows of whole vectors (an aligned start for every row); else scalars
    vec = config.get("vec", 1)
    vec = vec if cuda and width % vec == 0 and x0 % vec == 0 and x_width % vec == 0 else 1
    stage = cuda and gather and config.get("stage", False)
    ftile = min(config["feat_tile"], width)
    n_full, rem = divmod(width, ftile)
    jloop = lane_loop(cuda, config.get("vectorize", False))
    kloop = T.vectorized if vec > 1 else T.serial
    rows = None if transform else sparse_rows(cuda, config)  # spmm_matmul blocks rows itself
    # scatter's edge rows come in order, which the hardware prefetcher already follows
    ahead = gather_prefetch(cuda, config if gather else {}, dtype)

    def source(indices, e):
        return indices[e] if gather else e

    def message(x, w, e, src, f, dst_row, i):
        """Edge ``e``'s message at feature ``f``; ``dst_row`` (None without ``dst_op``): the registers holding
        the destination's row tile, ``i``: this feature's place in them."""
        if not weighted:
            value = x[src, x0 + f]
        elif add_edges:
            value = x[src, x0 + f] + w[e, f]
        else:
            value = x[src, x0 + f] * w[e, 0 if heads == 1 else f // per_head]
        if dst_row is not None:
            value = value - dst_row[i]
        return value if act is None else act(value, act_step.alpha or 0.0)

    def make_units(b_indptr, b_indices, b_x, b_w, b_d, b_out, finish, seg, cols):
        """Work-unit bodies ``(unit, lane, mask, f0, extent)``: ``[row]``, or (spmm_matmul) ``[row into a
        tile]`` (with a sixth parameter, the tile), or (grouped) ``[segment, combine]``, or
        (bucketed) ``[segment of bucket 0, ..., of the last bucket, combine]``, or (column-partitioned)
        ``[unit_of]``, ``unit_of(p)`` being the unit of row's edges in partition ``p`` (an int, or a loop
        variable over the partitions). ``seg`` is None or
        ``(seg_ptr, seg_row, row_seg, split_rows, partial, order, bucket_ptr)`` (the last two None
        without buckets); ``cols`` is None or ``(part_ptr, part_src, part_edge)``; ``b_d`` is None or the
        destination rows (``dst_op``), each unit's tile of them loaded by ``load_dst_row`` before its edge walk.

        A unit's ``lanes`` threads are ``edge_lanes`` edge groups (``lane // feat_lanes``) of
        ``feat_lanes`` threads; a thread holds ``vec`` consecutive features of each of its items
        (item ``j`` of lane ``l``: vector ``j * feat_lanes + l % feat_lanes`` of the tile), and the edge
        groups' partial results are combined by warp shuffles (``mask``: the unit's lanes in the warp).
        """
        def feature(j, k, lane, f0):
            return f0 + (j * feat_lanes + lane % feat_lanes) * vec + k

        def items(extent):
            return ceildiv(extent, feat_lanes * vec)

        def inside(j, lane, extent):
            return lane_guard(feat_lanes, j, lane % feat_lanes, extent // vec)

        def owner(lane):
            """Whether the thread stores: edge group 0 (all threads hold the combined values)."""
            return True if edge_lanes == 1 else lane < feat_lanes

        @T.macro
        def init(acc, extent):
            for j in jloop(items(extent)):
                for k in kloop(vec):
                    acc[j * vec + k] = red.init(dtype)

        @T.macro
        def add_edge_scalars(acc, dst_row, lane, f0, extent, src, edge):
            for j in jloop(items(extent)):
                if inside(j, lane, extent):
                    for k in kloop(vec):
                        acc[j * vec + k] = red.combine(acc[j * vec + k], message(
                            b_x, b_w, edge, src, feature(j, k, lane, f0), dst_row, j * vec + k))

        @T.macro
        def add_edge_vectors(acc, dst_row, lane, f0, extent, src, edge):
            # each vector loaded whole, then combined element by element: TVM lowers a vector Select
            # (max's combine) to scalar branches, which would split the load too
            got = T.alloc_buffer((vec,), dtype, scope=scratch)
            for j in jloop(items(extent)):
                if inside(j, lane, extent):
                    for k in kloop(vec):
                        got[k] = message(b_x, b_w, edge, src, feature(j, k, lane, f0), dst_row, j * vec + k)
                    for k in T.unroll(vec):
                        acc[j * vec + k] = red.combine(acc[j * vec + k], got[k])

        add_edge = add_edge_vectors if vec > 1 else add_edge_scalars

        @T.macro
        def butterfly(acc, mask, extent):
            # over the edge groups: every thread ends with the sum (max) over all of them
            other = T.alloc_buffer((1,), dtype, scope="local")
            for s in T.unroll(edge_lanes.bit_length() - 1):
                for j in T.unroll(items(extent) * vec):
                    other[0] = T.tvm_warp_shuffle_xor(mask, acc[j], feat_lanes << s, lanes, 32)
                    acc[j] = red.combine(acc[j], other[0])

        @T.macro
        def one_group(acc, mask, extent):
            T.evaluate(0)  # a single edge group holds the whole result already

        combine_lanes = butterfly if edge_lanes > 1 else one_group

        def edge_walk(width, source_at, edge_at, last, positional=False):
            """Macro ``(acc, dst_row, lane, mask, f0, extent, e_begin, e_end)`` folding positions
            ``[e_begin, e_end)`` into ``acc`` (position ``e``: source ``source_at(e)``, edge value of
            ``edge_at(e)``; ``last`` the last position there is): a data-dependent loop (on CPU
            prefetching the source row of a later position, ``gather_prefetch``), or for an ELL bucket
            of at most ``width`` edges a fixed, unrolled one; with edge groups, group ``g`` takes
            positions ``g, g + edge_lanes, ...``; with staging, each chunk of ``lanes`` positions is
            loaded once, coalesced, into the lanes' registers and handed round by shuffles (GE-SpMM's
            row caching); ``positional``: the edge of position ``e`` is ``e`` (nothing to stage but
            sources)."""
            if cuda:
                @T.macro
                def add_at(acc, dst_row, lane, f0, extent, e):
                    src = source_at(e)
                    add_edge(acc, dst_row, lane, f0, extent, src, edge_at(e))
            else:
                # the source index inline: LLVM kept a let-bound one in memory, a store and reloads per
                # edge (SpMM, ogbn_arxiv, F=16: 10.1 ms against 7.5 ms inline)
                @T.macro
                def add_at(acc, dst_row, lane, f0, extent, e):
                    add_edge(acc, dst_row, lane, f0, extent, source_at(e), edge_at(e))

            if width is not None and width <= UNROLL_WIDTH:
                @T.macro
                def walk_fixed(acc, dst_row, lane, mask, f0, extent, e_begin, e_end):
                    for i in T.unroll(ceildiv(width, edge_lanes)):
                        if e_begin + lane // feat_lanes + i * edge_lanes < e_end:
                            add_at(acc, dst_row, lane, f0, extent, e_begin + lane // feat_lanes + i * edge_lanes)
                    combine_lanes(acc, mask, extent)

                return walk_fixed
            if stage:
                @T.macro
                def walk_staged(acc, dst_row, lane, mask, f0, extent, e_begin, e_end):
                    held = T.alloc_buffer((2,), idx, scope="local")  # this lane's source and edge position
                    for c in range((e_end - e_begin + lanes - 1) // lanes):
                        held[0] = T.Cast(idx, 0)
                        held[1] = T.Cast(idx, 0)
                        if e_begin + c * lanes + lane < e_end:
                            held[0] = source_at(e_begin + c * lanes + lane)
                            if not positional:
                                held[1] = edge_at(e_begin + c * lanes + lane)
                        for i in range(T.min(lanes, e_end - e_begin - c * lanes)):
                            src = T.tvm_warp_shuffle(mask, held[0], i, lanes, 32)
                            if positional:
                                add_edge(acc, dst_row, lane, f0, extent, src, e_begin + c * lanes + i)
                            else:
                                edge = T.tvm_warp_shuffle(mask, held[1], i, lanes, 32)
                                add_edge(acc, dst_row, lane, f0, extent, src, edge)

                return walk_staged
            if edge_lanes == 1:
                @T.macro
                def walk(acc, dst_row, lane, mask, f0, extent, e_begin, e_end):
                    for e in range(e_begin, e_end):
                        ahead(b_x, source_at, e, last, x0 + f0, extent)
                        add_at(acc, dst_row, lane, f0, extent, e)

                return walk

            @T.macro
            def walk_split(acc, dst_row, lane, mask, f0, extent, e_begin, e_end):
                for i in range((e_end - e_begin + edge_lanes - 1 - lane // feat_lanes) // edge_lanes):
                    add_at(acc, dst_row, lane, f0, extent, e_begin + lane // feat_lanes + i * edge_lanes)
                combine_lanes(acc, mask, extent)

            return walk_split

        def accumulate(width):
            """``edge_walk`` over the adjacency's own edge order."""
            return edge_walk(width, lambda e: source(b_indices, e), lambda e: e, b_indices.shape[0] - 1,
                             positional=True)

        def finished(acc, j, k, v, lane, f0):
            value = red.finish(acc[j * vec + k], b_indptr[v + 1] - b_indptr[v], dtype)
            return finish(value, v, feature(j, k, lane, f0))

        @T.macro
        def store_scalars(acc, dest, r, v, lane, f0, extent):
            # row v's finished values (reduction finish, epilogue) -> row r of dest
            if owner(lane):
                for j in jloop(items(extent)):
                    if inside(j, lane, extent):
                        for k in kloop(vec):
                            dest[r, feature(j, k, lane, f0)] = finished(acc, j, k, v, lane, f0)

        @T.macro
        def store_vectors(acc, dest, r, v, lane, f0, extent):
            # finished one element at a time (TVM's CUDA codegen mistypes a vector Select on a scalar
            # condition), stored a vector at a time
            done = T.alloc_buffer((vec,), dtype, scope=scratch)
            if owner(lane):
                for j in jloop(items(extent)):
                    if inside(j, lane, extent):
                        for k in T.unroll(vec):
                            done[k] = finished(acc, j, k, v, lane, f0)
                        for k in kloop(vec):
                            dest[r, feature(j, k, lane, f0)] = done[k]

        store_into = store_vectors if vec > 1 else store_scalars

        @T.macro
        def store(acc, v, lane, f0, extent):
            store_into(acc, b_out, v, v, lane, f0, extent)

        @T.macro
        def keep(acc, dest, r, lane, f0, extent):
            # raw accumulator -> row r of dest (a split row's partial, a partition's running value)
            if owner(lane):
                for j in jloop(items(extent)):
                    if inside(j, lane, extent):
                        for k in kloop(vec):
                            dest[r, feature(j, k, lane, f0)] = acc[j * vec + k]

        @T.macro
        def fold(acc, src, r, lane, f0, extent):
            # acc combined with row r of src (the raw partials of a split row)
            for j in jloop(items(extent)):
                if inside(j, lane, extent):
                    for k in kloop(vec):
                        acc[j * vec + k] = red.combine(acc[j * vec + k], src[r, feature(j, k, lane, f0)])

        def local(extent):
            return T.alloc_buffer((items(extent) * vec,), dtype, scope=scratch)

        def dst_row_registers(extent):
            """Registers for a unit's tile of its destination row (None, bound as a plain Python value: no
            destination rows)."""
            return T.meta_var(None) if b_d is None else local(extent)

        @T.macro
        def load_dst_row(dst_row, v, lane, f0, extent):
            # row v's tile of the destination rows, read once for all of the unit's edges
            if dst_row is not None:
                for j in jloop(items(extent)):
                    if inside(j, lane, extent):
                        for k in kloop(vec):
                            dst_row[j * vec + k] = b_d[v, feature(j, k, lane, f0)]

        walk_rows = accumulate(None)

        @T.macro
        def row_unit(v, lane, mask, f0, extent):
            acc = local(extent)
            dst_row = dst_row_registers(extent)
            init(acc, extent)
            load_dst_row(dst_row, v, lane, f0, extent)
            walk_rows(acc, dst_row, lane, mask, f0, extent, b_indptr[v], b_indptr[v + 1])
            store(acc, v, lane, f0, extent)

        @T.macro
        def tile_unit(v, lane, mask, f0, extent, tile):
            # spmm_matmul: row v aggregated into its row of an on-chip tile of tile_rows rows
            acc = local(extent)
            dst_row = dst_row_registers(extent)
            init(acc, extent)
            load_dst_row(dst_row, v, lane, f0, extent)
            walk_rows(acc, dst_row, lane, mask, f0, extent, b_indptr[v], b_indptr[v + 1])
            store_into(acc, tile, v % tile_rows, v, lane, f0, extent)


        def column_units(part_ptr, part_src, part_edge):
            """The unit of column partition ``p``: row ``v``'s edges from that source range, carried between
            partitions as the raw accumulator in ``out``, finished by the last one. ``p`` is an int (its
            first/last tests fold away) or a loop variable (they become branches)."""
            walk = edge_walk(None, lambda e: part_src[e], lambda e: part_edge[e], part_src.shape[0] - 1)
            n_dst = b_indptr.shape[0] - 1

            @T.macro
            def resume(acc, v, lane, f0, extent):
                # a later partition goes on from the running value in out (edge group 0 only: the groups' sum)
                init(acc, extent)
                if owner(lane):
                    fold(acc, b_out, v, lane, f0, extent)

            def partition_unit(p):
                @T.macro
                def unit(v, lane, mask, f0, extent):
                    acc = local(extent)
                    dst_row = dst_row_registers(extent)
                    if p == 0:
                        init(acc, extent)
                    else:
                        resume(acc, v, lane, f0, extent)
                    load_dst_row(dst_row, v, lane, f0, extent)
                    walk(acc, dst_row, lane, mask, f0, extent, part_ptr[p * n_dst + v], part_ptr[p * n_dst + v + 1])
                    if p == n_parts - 1:
                        store(acc, v, lane, f0, extent)
                    else:
                        keep(acc, b_out, v, lane, f0, extent)

                return unit

            return [partition_unit]

        def segment_units(seg_ptr, seg_row, row_seg, split_rows, partial, order, bucket_ptr):
            def segment_unit(segment_of, width):
                """Phase 1 over segments ``segment_of(i)``: a whole row is finished at once, a split row's
                segments leave partials for the combine."""
                walk = accumulate(width)

                @T.macro
                def unit(i, lane, mask, f0, extent):
                    acc = local(extent)
                    dst_row = dst_row_registers(extent)
                    s = segment_of(i)
                    v = seg_row[s]
                    init(acc, extent)
                    load_dst_row(dst_row, v, lane, f0, extent)
                    walk(acc, dst_row, lane, mask, f0, extent, seg_ptr[s], seg_ptr[s + 1])
                    if row_seg[v + 1] - row_seg[v] == 1:
                        store(acc, v, lane, f0, extent)
                    else:
                        keep(acc, partial, s, lane, f0, extent)

                return unit

            @T.macro
            def combine_unit(k, lane, mask, f0, extent):
                acc = local(extent)
                v = split_rows[k]
                init(acc, extent)
                for s in range(row_seg[v], row_seg[v + 1]):
                    fold(acc, partial, s, lane, f0, extent)
                store(acc, v, lane, f0, extent)

            if order is None:
                return [segment_unit(lambda i: i, None), combine_unit]
            return [*(segment_unit(lambda i, b=b: order[bucket_ptr[b] + i], 1 << b) for b in range(n_buckets)),
                    combine_unit]

        if transform:
            return [tile_unit]
        if cols is not None:
            return column_units(*cols)
        if seg is None:
            return [row_unit]
        return segment_units(*seg)

    def transform_launch(indptr, weight, out, tile_unit):
        """spmm_matmul: blocks of ``tile_rows`` rows; each row aggregated into an on-chip tile (CUDA
        shared memory; a per-task buffer on CPU), then the tile times ``weight`` into ``out``."""
        out_tiles = ceildiv(out_width, lanes)

        @T.macro
        def aggregate_row(v, lane, mask, tile):
            for ft in range(n_full):
                tile_unit(v, lane, mask, ft * ftile, ftile, tile)
            if rem > 0:
                tile_unit(v, lane, mask, n_full * ftile, rem, tile)

        @T.macro
        def transform_row(v, lane, tile):
            o = T.alloc_buffer((out_tiles,), dtype, scope=scratch)
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
                                aggregate_row(bx * tile_rows + ty, tx, row_mask(ty, lanes), tile)
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
                        aggregate_row(blk * tile_rows + r, 0, NO_MASK, tile)
                for r in T.serial(tile_rows):
                    if blk * tile_rows + r < n:
                        transform_row(blk * tile_rows + r, 0, tile)

        return run_cpu

    def tiled(unit):
        return feature_tiles(unit, width, config["feat_tile"])

    group, bucketed, n_parts = layout(spec, config)
    grouped = group > 0
    n_buckets = bucket_count(group) if bucketed else 0
    seg_layout = [("seg_ptr", ("n_seg + 1",), idx), ("seg_row", ("n_seg",), idx), ("row_seg", ("n + 1",), idx),
                  ("split_rows", ("n_split",), idx)] if grouped else []
    bucket_layout = [("order", ("n_seg",), idx), ("bucket_ptr", (n_buckets + 1,), idx)] if bucketed else []
    col_layout = [("part_ptr", (f"n * {n_parts} + 1",), idx), ("part_src", ("nnz",), idx),
                  ("part_edge", ("nnz",), idx)] if n_parts else []
    adj_layout = seg_layout + bucket_layout + col_layout
    buffers = [("indptr", ("n + 1",), idx), ("indices", ("nnz",), idx), *adj_layout,
               ("x", ("n_src" if gather else "nnz", x_width), dtype),
               *([("w", ("nnz", width if add_edges else heads), dtype)] if weighted else []),
               *([("d", ("n", width), dtype)] if subtract_dst else []),
               *epilogue_buffers(steps, width, spec.inputs[2 + n_message:]),
               *([("weight", (width, out_width), dtype)] if transform else []),
               ("out", ("n", out_width), dtype)]

    # grouped: partials of split rows' segments, indexed by segment (a row of one segment writes none)
    workspace = [("partial", ("n_seg", width), dtype)] if grouped else []

    def launch(indptr, indices, *rest):
        layout_buffers, (x, *rest) = rest[:len(adj_layout)], rest[len(adj_layout):]
        w = rest[0] if weighted else None
        d = rest[int(weighted)] if subtract_dst else None
        out = rest[-1 - len(workspace)]
        finish = epilogue(steps, rest[n_message:-1 - len(workspace) - int(transform)], cuda)

        if transform:
            (tile_unit,) = make_units(indptr, indices, x, w, d, out, finish, None, None)
            return transform_launch(indptr, rest[-2], out, tile_unit)
        if n_parts:
            (unit_of,) = make_units(indptr, indices, x, w, d, out, finish, None, layout_buffers)
            edges = work(indices.shape[0], width)
            if not cuda:  # a loop over the partitions: the code of one pass, whatever their number
                @T.macro
                def loop_partitions():
                    for p in T.serial(n_parts):
                        rows(indptr.shape[0] - 1, edges, tiled(unit_of(p)))

                return loop_partitions

            def one_pass(p):
                @T.macro
                def step(a, b, c):
                    rows(indptr.shape[0] - 1, edges, tiled(unit_of(p)))

                return step

            passes = sequence([one_pass(p) for p in range(n_parts)])  # CUDA: a launch per partition, in order

            @T.macro
            def run_partitions():
                passes(0, 0, 0)

            return run_partitions
        if not grouped:
            (row_unit,) = make_units(indptr, indices, x, w, d, out, finish, None, None)

            @T.macro
            def run():
                rows(indptr.shape[0] - 1, work(indices.shape[0], width), tiled(row_unit))

            return run

        seg_ptr, seg_row, row_seg, split_rows, *buckets = layout_buffers
        order, bucket_ptr = buckets if bucketed else (None, None)
        *segment_units, combine_unit = make_units(
            indptr, indices, x, w, d, out, finish, (seg_ptr, seg_row, row_seg, split_rows, rest[-1], order, bucket_ptr),
            None)
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
    x_cols = dict(spec.attrs).get("x_cols", ())
    if x_cols:  # columns x0..x1 of rows of F
        shape = f"f{x_cols[1] - x_cols[0]}_cols{x_cols[0]}of{feats.width}"
    transform = [f"to{spec.output.width}", f"r{spec.attr('tile_rows')}"] if spec.op == "spmm_matmul" else []
    attrs = dict(spec.attrs)
    edges = (["ea"] if attrs.get("edge_op") == "add" else ["ew"]) if _weighted(spec) else []
    dst = [f"d{attrs['dst_op']}"] if attrs.get("dst_op") else []  # dsub: minus the destination's row
    act = [f"m{epilogue_tokens(parse_epilogue([attrs['message_act']]))[0]}"] if attrs.get("message_act") else []
    return [spec.attr("reduce"), *edges, *dst, *act, shape, *epilogue_tokens(spec_epilogue(spec)), *transform]
