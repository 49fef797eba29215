"""elementwise: every unary activation and broadcasting binary op, over a flat loop.

NumPy broadcasting is resolved at build time into index arithmetic on the flat output
index (operands of the output's shape are read directly, so the common case vectorises).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import ALIGN, BINARY, FP32, UNARY_NAMES, Call, flat, shape_token, unary

VIEW = "flat"


def _strides(shape: tuple[int, ...]) -> list[int]:
    return [math.prod(shape[d + 1:]) for d in range(len(shape))]


def broadcast_index(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Callable[[Any], Any]:
    """Map a flat output index to the flat index of an operand broadcast to ``out_shape``."""
    if tuple(shape) == tuple(out_shape) or 0 in out_shape:  # an empty output reads nothing
        return lambda i: i
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    terms = [
        (o_stride, o_dim, i_stride)
        for o_stride, o_dim, i_stride, dim in zip(_strides(out_shape), out_shape, _strides(padded), padded)
        if dim != 1
    ]

    def index(i):
        flat_index = 0
        for o_stride, o_dim, i_stride in terms:
            flat_index = flat_index + (i // o_stride) % o_dim * i_stride
        return flat_index

    return index


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    out = spec.output
    total = out.numel
    loop = flat(cuda, config, total)
    if spec.op in UNARY_NAMES:
        if out.dtype != FP32:
            raise spec.fail("unary activations need float32")
        act, alpha = unary(spec.op, cuda), float(dict(spec.attrs).get("alpha", 0.0))

        def make_unary(b_x, b_y):
            @T.macro
            def body(i):
                b_y[i] = act(b_x[i], alpha)

            return body

        @T.prim_func
        def unary_fn(a_x: T.handle, a_out: T.handle):
            T.func_attr({"global_symbol": name, "tir.noalias": True})
            x = T.match_buffer(a_x, (total,), FP32, align=ALIGN)
            y = T.match_buffer(a_out, (total,), FP32, align=ALIGN)
            loop(make_unary(x, y))

        return [Call(name, unary_fn, (0, 1))]

    if spec.op == "div" and out.dtype != FP32:
        raise spec.fail("div needs float32 operands")
    combine = BINARY[spec.op]
    lhs, rhs = spec.inputs
    lhs_index, rhs_index = broadcast_index(lhs.shape, out.shape), broadcast_index(rhs.shape, out.shape)
    dtype = out.dtype

    def make_binary(b_a, b_b, b_y):
        @T.macro
        def body(i):
            b_y[i] = combine(b_a[lhs_index(i)], b_b[rhs_index(i)])

        return body

    @T.prim_func
    def binary_fn(a_lhs: T.handle, a_rhs: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        a = T.match_buffer(a_lhs, (lhs.numel,), dtype, align=ALIGN)
        b = T.match_buffer(a_rhs, (rhs.numel,), dtype, align=ALIGN)
        y = T.match_buffer(a_out, (total,), dtype, align=ALIGN)
        loop(make_binary(a, b, y))

    return [Call(name, binary_fn, (0, 1, 2))]


def name_tokens(spec: KernelSpec) -> list[str]:
    return [shape_token(spec.output)]
