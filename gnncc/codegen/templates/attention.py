"""attention_spmm: GAT/GATv2/dot-product attention and aggregation in one CSR row walk, softmax on the fly.

For each destination row and feature tile, the row's edges are walked for a group of heads (all of
them on CPU, their statistics in vector lanes; one at a time on CUDA): each edge's score is computed
on the fly (GAT: ``p[src, h] + q[v, h]``, then leaky_relu; GATv2: ``sum_c q[0, h, c] *
leaky_relu(x[src, h, c] + p[v, h, c])``; dot, TransformerConv's: ``scale * sum_c p[src, h, c] *
q[v, h, c]``, keys ``p`` and queries ``q``; GAT and GATv2 with ``edge_bias`` add a per-edge term
before the leaky_relu, their layers' edge features) and folded into a denominator ``d`` and the accumulator,
so neither the ``[E, H]`` scores nor the ``[E, H, C]`` messages exist in memory. With a max pass
(CUDA: ``max_pass``; CPU: fewer heads walked together than ``max_pass_below``) a first walk finds
the row's maximum ``m`` and the second adds ``exp(s - m) * x[src]``; without it the softmax is
online (``acc = acc * exp(m_old - m) + exp(s - m) * x[src]``, two exps per score). Heads are
concatenated or averaged, then the epilogue is applied. On CUDA the ``lanes`` threads of a row
split the tile's features (each recomputes the scores). Its space is ``schedules/attention.json``.
"""

from __future__ import annotations

import struct
from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    FP32,
    Call,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    exp_of,
    feature_tiles,
    gather_prefetch,
    halving_sum,
    kernel_func,
    lane_guard,
    lane_loop,
    scratch_scope,
    sparse_rows,
    spec_epilogue,
    unary,
    work,
)
from gnncc.ir.ops import attention_epilogue_start

VIEW = "rows"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    attrs = dict(spec.attrs)
    if spec.output.dtype != FP32:
        raise spec.fail("attention needs float32 operands")
    idx = spec.index_dtype
    _, heads, channels = spec.inputs[1].shape
    gatv2 = attrs["score"] == "gatv2"
    dot = attrs["score"] == "dot"
    edge_bias = bool(attrs.get("edge_bias", False))
    start = attention_epilogue_start(attrs)
    scale = float(attrs["scale"])
    mean = attrs["heads"] == "mean"
    slope = float(attrs["negative_slope"])
    steps = spec_epilogue(spec)
    width = channels if mean else heads * channels
    lanes = config["lanes"] if cuda else 1
    jloop = lane_loop(cuda, config.get("vectorize", False))
    rows = sparse_rows(cuda, config)
    lowest = tvm.tirx.min_value(FP32)

    def leaky(s):
        return unary("leaky_relu", cuda)(s, slope)

    # heads walked together: all of them on CPU (one pass over a row's edges, the per-head
    # statistics in vector lanes), one at a time on CUDA (registers)
    group = heads if config.get("heads_together", False) else 1
    # CPU: a max pass for groups of fewer than max_pass_below heads (with 8 or more, the heads fill
    # the exps' vector and the online form's one walk won: 55.6 against 76.1 ms, ogbn_arxiv's 8 heads)
    max_pass = config.get("max_pass", False) if cuda else group < config.get("max_pass_below", 0)
    exp = exp_of(cuda)
    # a GATv2 or dot score loops over channels
    hloop = T.serial if gatv2 or dot or cuda or group == 1 else T.vectorized
    # edges whose exps the max pass takes together (CPU: one vector)
    chunk = config.get("edge_chunk", 1) if max_pass else 1
    eloop = T.vectorized if chunk > 1 else T.serial
    kloop = T.serial if chunk > 1 else hloop  # the exps' vector: a chunk's edges, else the group's heads
    ahead = gather_prefetch(cuda, config, FP32)
    # CPU dot scores: partial sums over a vector of channels (a power of two up to 8), then halved
    dot_parts = 1 << (min(8, channels).bit_length() - 1)
    dot_chunks, dot_tail = divmod(channels, dot_parts)
    sum_dot_parts = halving_sum(dot_parts)

    def make_body(b_indptr, b_indices, b_x, b_p, b_q, b_bias, b_out, finish):
        def feature(src, h, c):
            return b_x[src, h * channels + c]

        def source(e):
            return b_indices[e]

        def with_edge_term(pre, e, column):
            # GAT's and GATv2's pre-activation score, plus the edge term of column ``column`` if there is one
            return pre + b_bias[e, column] if edge_bias else pre

        @T.macro
        def fetch(e):
            # the rows a later edge's score and message read: x[src] (all heads), GAT's p[src], the keys p[src]
            ahead(b_x, source, e, b_indices.shape[0] - 1, 0, heads * channels)
            if dot:
                ahead(b_p, source, e, b_indices.shape[0] - 1, 0, heads * channels)
            elif not gatv2:
                ahead(b_p, source, e, b_indices.shape[0] - 1, 0, heads)

        @T.macro
        def cpu_dot(s, i, src, v, h0, k):
            # s[k, i] = p[src, h, :] . q[v, h, :], partial sums in one vector, then halved
            part = T.alloc_buffer((1, dot_parts), FP32, scope=scratch)
            for j in T.vectorized(dot_parts):
                part[0, j] = T.float32(0)
            for c in range(dot_chunks):
                for j in T.vectorized(dot_parts):
                    part[0, j] = part[0, j] + b_p[src, (h0 + k) * channels + c * dot_parts + j] * b_q[
                        v, (h0 + k) * channels + c * dot_parts + j]
            for j in range(dot_tail):
                part[0, j] = part[0, j] + b_p[src, (h0 + k) * channels + dot_chunks * dot_parts + j] * b_q[
                    v, (h0 + k) * channels + dot_chunks * dot_parts + j]
            sum_dot_parts(part, 0)
            s[k, i] = part[0, 0]

        @T.macro
        def scores(s, i, src, e, v, h0):
            # s[k, i]: the score of head h0 + k for edge e, src -> v (src passed inline: a let-bound
            # index stays in memory, see the aggregate template)
            for k in hloop(group):
                if gatv2:
                    s[k, i] = T.float32(0)
                    for c in range(channels):
                        s[k, i] = s[k, i] + b_q[0, (h0 + k) * channels + c] * leaky(with_edge_term(
                            b_x[src, (h0 + k) * channels + c] + b_p[v, (h0 + k) * channels + c], e,
                            (h0 + k) * channels + c))
                elif dot and cuda:
                    s[k, i] = T.float32(0)
                    for c in range(channels):
                        s[k, i] = s[k, i] + b_p[src, (h0 + k) * channels + c] * b_q[v, (h0 + k) * channels + c]
                    s[k, i] = s[k, i] * T.float32(scale)
                elif dot:
                    cpu_dot(s, i, src, v, h0, k)
                    s[k, i] = s[k, i] * T.float32(scale)
                else:
                    s[k, i] = leaky(with_edge_term(b_p[src, h0 + k] + b_q[v, h0 + k], e, h0 + k))

        @T.macro
        def accumulate(acc, d, scale, w, i, src, lane, h0, f0, extent, rescale):
            # d[k] = d[k] * scale[k] + w[k, i]; acc[k, j] likewise, adding w[k, i] * x[src, head h0 + k,
            # feature f0 + j * lanes + lane] (inline: a let-bound message in the vectorised loop gave wrong sums)
            for k in range(group):
                if rescale:
                    d[k] = d[k] * scale[k] + w[k, i]
                else:
                    d[k] = d[k] + w[k, i]
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        if rescale:
                            acc[k, j] = acc[k, j] * scale[k] + w[k, i] * feature(src, h0 + k, f0 + j * lanes + lane)
                        else:
                            acc[k, j] = acc[k, j] + w[k, i] * feature(src, h0 + k, f0 + j * lanes + lane)

        @T.macro
        def head_group(v, lane, h0, f0, extent, acc):
            # per head of the group: running max m, denominator d, rescale factor r (online); the
            # scores s of `chunk` edges
            m = T.alloc_buffer((group,), FP32, scope=scratch)
            d = T.alloc_buffer((group,), FP32, scope=scratch)
            r = T.alloc_buffer((group,), FP32, scope=scratch)
            s = T.alloc_buffer((group, chunk), FP32, scope=scratch)
            for k in hloop(group):
                m[k] = lowest
                d[k] = T.float32(0)
            for k in range(group):
                for j in jloop(ceildiv(extent, lanes)):
                    acc[k, j] = T.float32(0)
            if max_pass:
                # the row's maximum first: then one exp per score and no rescaling
                for e in range(b_indptr[v], b_indptr[v + 1]):
                    fetch(e)  # the second walk finds this row's x[src] in cache
                    scores(s, 0, b_indices[e], e, v, h0)
                    for k in hloop(group):
                        m[k] = T.max(m[k], s[k, 0])
                # `chunk` edges at a time, their exps in one vector (rows' tails padded with 0)
                for ch in range((b_indptr[v + 1] - b_indptr[v] + chunk - 1) // chunk):
                    for i in range(chunk):
                        if b_indptr[v] + ch * chunk + i < b_indptr[v + 1]:
                            scores(s, i, b_indices[b_indptr[v] + ch * chunk + i], b_indptr[v] + ch * chunk + i, v,
                                   h0)
                        else:
                            for k in range(group):
                                s[k, i] = lowest
                    for k in kloop(group):
                        for i in eloop(chunk):
                            s[k, i] = exp(s[k, i] - m[k])
                    for i in range(chunk):
                        if b_indptr[v] + ch * chunk + i < b_indptr[v + 1]:
                            accumulate(acc, d, r, s, i, b_indices[b_indptr[v] + ch * chunk + i], lane, h0, f0, extent,
                                       False)
            else:
                t = T.alloc_buffer((group,), FP32, scope=scratch)  # the new running max
                for e in range(b_indptr[v], b_indptr[v + 1]):
                    fetch(e)
                    scores(s, 0, b_indices[e], e, v, h0)
                    for k in hloop(group):
                        t[k] = T.max(m[k], s[k, 0])
                        r[k] = exp(m[k] - t[k])
                        s[k, 0] = exp(s[k, 0] - t[k])
                        m[k] = t[k]
                    accumulate(acc, d, r, s, 0, b_indices[e], lane, h0, f0, extent, True)
            for k in range(group):
                for j in jloop(ceildiv(extent, lanes)):
                    # empty rows give 0; a NaN denominator (a NaN score or feature) must stay NaN, as PyG's softmax
                    acc[k, j] = T.Select(d[k] == T.float32(0), T.float32(0), acc[k, j] / d[k])

        @T.macro
        def tile_body(v, lane, mask, f0, extent):
            acc = T.alloc_buffer((group, ceildiv(extent, lanes)), FP32, scope=scratch)
            total = T.alloc_buffer((ceildiv(extent, lanes),), FP32, scope=scratch)
            for j in jloop(ceildiv(extent, lanes)):
                total[j] = T.float32(0)
            for g in range(heads // group):
                head_group(v, lane, g * group, f0, extent, acc)
                for k in range(group):
                    for j in jloop(ceildiv(extent, lanes)):
                        if lane_guard(lanes, j, lane, extent):
                            if mean:
                                total[j] = total[j] + acc[k, j]
                            else:
                                b_out[v, (g * group + k) * channels + f0 + j * lanes + lane] = finish(
                                    acc[k, j], v, (g * group + k) * channels + f0 + j * lanes + lane)
            if mean:
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        b_out[v, f0 + j * lanes + lane] = finish(total[j] / T.float32(heads), v, f0 + j * lanes + lane)

        return feature_tiles(tile_body, channels, config["feat_tile"])

    p_shape = {"gat": ("n_src", heads), "gatv2": ("n", heads * channels), "dot": ("n_src", heads * channels)}
    q_shape = {"gat": ("n", heads), "gatv2": (1, heads * channels), "dot": ("n", heads * channels)}
    # the edge term: one per head (GAT) or per channel (GATv2), in the adjacency's edge order
    bias = [("bias", ("nnz", heads * channels if gatv2 else heads), FP32)] if edge_bias else []
    buffers = [("indptr", ("n + 1",), idx), ("indices", ("nnz",), idx),
               ("x", ("n_src", heads * channels), FP32), ("p", p_shape[attrs["score"]], FP32),
               ("q", q_shape[attrs["score"]], FP32), *bias,
               *epilogue_buffers(steps, width, spec.inputs[start:]), ("out", ("n", width), FP32)]

    def launch(indptr, indices, x, p, q, *rest):
        b_bias, rest = (rest[0], rest[1:]) if edge_bias else (None, rest)
        body = make_body(indptr, indices, x, p, q, b_bias, rest[-1], epilogue(steps, rest[:-1], cuda))
        per_edge = heads * (channels * (2 if gatv2 or dot else 1) + 2 + (channels if gatv2 else 1) * edge_bias)

        @T.macro
        def run():
            rows(indptr.shape[0] - 1, work(indices.shape[0], per_edge), body)

        return run

    func = kernel_func(name, buffers, ("n", "nnz", "n_src"), idx, launch)
    return [Call(name, func, tuple(range(len(buffers))))]


def name_tokens(spec: KernelSpec) -> list[str]:
    attrs = dict(spec.attrs)
    _, heads, channels = spec.inputs[1].shape
    # a dot score's scale is compiled in: its float32 bits keep kernels of other scales apart in a library
    scale = [f"s{struct.pack('>f', attrs['scale']).hex()}"] if attrs["score"] == "dot" else []
    bias = ["eb"] if attrs.get("edge_bias") else []
    return [attrs["score"], *scale, *bias, f"h{heads}c{channels}", attrs["heads"],
            *epilogue_tokens(spec_epilogue(spec))]
