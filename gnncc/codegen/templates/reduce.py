"""reduce_sum/mean/max over one axis, and reduce_dot (the sum of x times a weight broadcast to x):
one output element per iteration of the flat skeleton."""

from __future__ import annotations

import math
from typing import Any

import tvm
from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import FP32, REDUCERS, Call, flat, kernel_func, scratch_scope, shape_token
from gnncc.codegen.templates.elementwise import broadcast_index

VIEW = "flat"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    scratch = scratch_scope(cuda)  # scope of per-thread accumulators
    x = spec.inputs[0]
    if x.dtype != FP32:
        raise spec.fail("reductions need float32")
    axis = spec.attr("axis") % len(x.shape)
    outer, size, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    dot = spec.op == "reduce_dot"
    red = REDUCERS["sum" if dot else spec.op.removeprefix("reduce_")]
    loop = flat(cuda, config, outer * inner)
    count = tvm.tirx.const(size, "int32")
    # reduce_dot's weight, read at the flat index of x broadcast to its shape
    w_index = broadcast_index(spec.inputs[1].shape, x.shape) if dot else None

    def make_body(b_x, b_w, b_y):
        def item(i, a):
            at = i // inner * size * inner + a * inner + i % inner
            return b_x[at] * b_w[w_index(at)] if dot else b_x[at]

        @T.macro
        def body(i):
            acc = T.alloc_buffer((1,), FP32, scope=scratch)
            acc[0] = red.init(FP32)
            for a in T.serial(size):
                acc[0] = red.combine(acc[0], item(i, a))
            b_y[i] = red.finish(acc[0], count, FP32)

        return body

    buffers = [("x", (x.numel,), FP32), *([("w", (spec.inputs[1].numel,), FP32)] if dot else []),
               ("out", (spec.output.numel,), FP32)]

    def launch(b_x, *rest):
        body = make_body(b_x, rest[0] if dot else None, rest[-1])

        @T.macro
        def run():
            loop(body)

        return run

    func = kernel_func(name, buffers, (), "int32", launch)
    return [Call(name, func, tuple(range(len(buffers))))]


def name_tokens(spec: KernelSpec) -> list[str]:
    weight = [f"w{shape_token(spec.inputs[1])}"] if spec.op == "reduce_dot" else []
    return [f"a{spec.attr('axis')}".replace("-", "m"), shape_token(spec.inputs[0]), *weight]
