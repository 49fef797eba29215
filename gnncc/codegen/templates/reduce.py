"""reduce_sum/mean/max over one axis: one output element per iteration of the flat skeleton."""

from __future__ import annotations

import math
from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import ALIGN, FP32, REDUCERS, Call, flat, scratch_scope, shape_token

VIEW = "flat"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    x = spec.inputs[0]
    if x.dtype != FP32:
        raise spec.fail("reductions need float32")
    axis = spec.attr("axis") % len(x.shape)
    outer, size, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    red = REDUCERS[spec.op.removeprefix("reduce_")]
    loop = flat(cuda, config, outer * inner)
    count = tvm.tirx.const(size, "int32")

    def make_body(b_x, b_y):
        @T.macro
        def body(i):
            acc = T.alloc_buffer((1,), FP32, scope=scratch)
            acc[0] = red.init(FP32)
            for a in T.serial(size):
                acc[0] = red.combine(acc[0], b_x[i // inner * size * inner + a * inner + i % inner])
            b_y[i] = red.finish(acc[0], count, FP32)

        return body

    @T.prim_func
    def reduce_fn(a_x: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        xb = T.match_buffer(a_x, (x.numel,), FP32, align=ALIGN)
        yb = T.match_buffer(a_out, (spec.output.numel,), FP32, align=ALIGN)
        loop(make_body(xb, yb))

    return [Call(name, reduce_fn, (0, 1))]


def name_tokens(spec: KernelSpec) -> list[str]:
    return [f"a{spec.attr('axis')}".replace("-", "m"), shape_token(spec.inputs[0])]
