"""attention_spmm: GAT/GATv2 attention and aggregation in one CSR row walk, with an online softmax.

For each destination row, head and feature tile, the row's edges are walked once: each edge's
score is computed on the fly (GAT: ``p[src, h] + q[v, h]``, then leaky_relu; GATv2:
``sum_c q[0, h, c] * leaky_relu(x[src, h, c] + p[v, h, c])``) and folded into a running maximum
``m``, a running denominator ``d`` and the accumulator (``acc = acc * exp(m_old - m) + exp(s - m) *
x[src]``), so neither the ``[E, H]`` scores nor the ``[E, H, C]`` messages exist in memory. Heads
are concatenated or averaged, then the epilogue is applied. On CUDA the ``lanes`` threads of a
row split the tile's features (each recomputes the scores). Its space is ``schedules/attention.json``.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    FP32,
    UNARY,
    Call,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    feature_tiles,
    kernel_func,
    lane_guard,
    lane_loop,
    scratch_scope,
    sparse_rows,
    work,
)
from gnncc.ir.ops import parse_epilogue

VIEW = "rows"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    attrs = dict(spec.attrs)
    if spec.output.dtype != FP32:
        raise spec.fail("attention needs float32 operands")
    idx = spec.index_dtype
    _, heads, channels = spec.inputs[1].shape
    gatv2 = attrs["score"] == "gatv2"
    mean = attrs["heads"] == "mean"
    slope = float(attrs["negative_slope"])
    steps = parse_epilogue(attrs["epilogue"])
    width = channels if mean else heads * channels
    lanes = config["lanes"] if cuda else 1
    jloop = lane_loop(cuda, config.get("vectorize", False))
    rows = sparse_rows(cuda, config)
    lowest = tvm.tirx.min_value(FP32)

    def leaky(s):
        return UNARY["leaky_relu"](s, slope)

    def make_body(b_indptr, b_indices, b_x, b_p, b_q, b_out, finish):
        @T.macro
        def score(stat, src, v, h):
            if gatv2:
                stat[2] = T.float32(0)
                for c in range(channels):
                    stat[2] = stat[2] + b_q[0, h * channels + c] * leaky(
                        b_x[src, h * channels + c] + b_p[v, h * channels + c])
            else:
                stat[2] = leaky(b_p[src, h] + b_q[v, h])

        @T.macro
        def head_tile(v, lane, h, f0, extent, acc):
            stat = T.alloc_buffer((4,), FP32, scope=scratch)  # running max, denominator, score, new max
            stat[0] = lowest
            stat[1] = T.float32(0)
            for j in jloop(ceildiv(extent, lanes)):
                acc[j] = T.float32(0)
            for e in range(b_indptr[v], b_indptr[v + 1]):
                src = b_indices[e]
                score(stat, src, v, h)
                stat[3] = T.max(stat[0], stat[2])
                scale = T.exp(stat[0] - stat[3])
                weight = T.exp(stat[2] - stat[3])
                stat[1] = stat[1] * scale + weight
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        acc[j] = acc[j] * scale + weight * b_x[src, h * channels + f0 + j * lanes + lane]
                stat[0] = stat[3]
            for j in jloop(ceildiv(extent, lanes)):
                # empty rows give 0; a NaN denominator (a NaN score or feature) must stay NaN, as PyG's softmax
                acc[j] = T.Select(stat[1] == T.float32(0), T.float32(0), acc[j] / stat[1])

        @T.macro
        def tile_body(v, lane, mask, f0, extent):
            acc = T.alloc_buffer((ceildiv(extent, lanes),), FP32, scope=scratch)
            total = T.alloc_buffer((ceildiv(extent, lanes),), FP32, scope=scratch)
            for j in jloop(ceildiv(extent, lanes)):
                total[j] = T.float32(0)
            for h in range(heads):
                head_tile(v, lane, h, f0, extent, acc)
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        if mean:
                            total[j] = total[j] + acc[j]
                        else:
                            b_out[v, h * channels + f0 + j * lanes + lane] = finish(
                                acc[j], v, h * channels + f0 + j * lanes + lane)
            if mean:
                for j in jloop(ceildiv(extent, lanes)):
                    if lane_guard(lanes, j, lane, extent):
                        b_out[v, f0 + j * lanes + lane] = finish(total[j] / T.float32(heads), v, f0 + j * lanes + lane)

        return feature_tiles(tile_body, channels, config["feat_tile"])

    p_shape = ("n", heads * channels) if gatv2 else ("n_src", heads)
    q_shape = (1, heads * channels) if gatv2 else ("n", heads)
    buffers = [("indptr", ("n + 1",), idx), ("indices", ("nnz",), idx),
               ("x", ("n_src", heads * channels), FP32), ("p", p_shape, FP32), ("q", q_shape, FP32),
               *epilogue_buffers(steps, width), ("out", ("n", width), FP32)]

    def launch(indptr, indices, x, p, q, *rest):
        body = make_body(indptr, indices, x, p, q, rest[-1], epilogue(steps, rest[:-1]))
        per_edge = heads * (channels * (2 if gatv2 else 1) + 2)

        @T.macro
        def run():
            rows(indptr.shape[0] - 1, work(indices.shape[0], per_edge), body)

        return run

    func = kernel_func(name, buffers, ("n", "nnz", "n_src"), idx, launch)
    return [Call(name, func, tuple(range(len(buffers))))]


def name_tokens(spec: KernelSpec) -> list[str]:
    attrs = dict(spec.attrs)
    _, heads, channels = spec.inputs[1].shape
    return [attrs["score"], f"h{heads}c{channels}", attrs["heads"],
            *epilogue_tokens(parse_epilogue(attrs["epilogue"]))]
