"""softmax, log_softmax and l2_normalize over the last axis: one row per iteration.

Each row takes a statistics pass (max and sum of exponentials, or the squared norm) and a
write pass, following torch.nn.functional: softmax/log_softmax subtract the row max;
l2_normalize divides by ``max(||x||, eps)``.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import ALIGN, FP32, Call, exp_of, flat, nan_max, scratch_scope, shape_token

VIEW = "flat"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    length = spec.output.shape[-1]
    total = spec.output.numel
    loop = flat(cuda, config, total // length if length else 0)
    op = spec.op
    eps = tvm.tirx.const(float(spec.attr("eps")) if op == "l2_normalize" else 0.0, FP32)
    lowest = tvm.tirx.min_value(FP32)
    exp = exp_of(cuda)

    def finish(x, stat):
        if op == "softmax":
            return exp(x - stat[0]) / stat[1]
        if op == "log_softmax":
            return x - stat[0] - T.log(stat[1])
        return x / nan_max(T.sqrt(stat[1]), eps)  # a NaN norm gives a NaN row, as F.normalize

    def make_body(b_x, b_y):
        @T.macro
        def body(r):
            stat = T.alloc_buffer((2,), FP32, scope=scratch)  # row max (softmaxes), sum
            stat[0] = lowest
            stat[1] = T.float32(0)
            if op == "l2_normalize":
                for k in T.serial(length):
                    stat[1] = stat[1] + b_x[r * length + k] * b_x[r * length + k]
            else:
                for k in T.serial(length):
                    stat[0] = T.max(stat[0], b_x[r * length + k])
                for k in T.serial(length):
                    stat[1] = stat[1] + exp(b_x[r * length + k] - stat[0])
            for k in T.serial(length):
                b_y[r * length + k] = finish(b_x[r * length + k], stat)

        return body

    @T.prim_func
    def rowwise_fn(a_x: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        xb = T.match_buffer(a_x, (total,), FP32, align=ALIGN)
        yb = T.match_buffer(a_out, (total,), FP32, align=ALIGN)
        loop(make_body(xb, yb))

    return [Call(name, rowwise_fn, (0, 1))]


def name_tokens(spec: KernelSpec) -> list[str]:
    return [shape_token(spec.output)]
