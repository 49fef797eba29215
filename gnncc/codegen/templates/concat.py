"""concat along any axis: one flat copy kernel per operand into its slice of the output.

Viewing the output as ``[outer, total, inner]``, operand ``k`` of axis length ``a_k`` fills
``[:, offset_k : offset_k + a_k, :]``; the kernel runs the copies in operand order.
"""

from __future__ import annotations

import math
from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import ALIGN, Call, flat, shape_token

VIEW = "flat"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    out = spec.output
    axis = spec.attr("axis") % len(out.shape)
    inner = math.prod(out.shape[axis + 1:])
    row = out.shape[axis] * inner  # output elements per outer index
    calls, offset = [], 0
    for k, operand in enumerate(spec.inputs):
        if operand.numel == 0:
            continue
        func = _copy(f"{name}_{k}", operand.numel, operand.shape[axis] * inner, offset * inner, row, out,
                     cuda, config)
        calls.append(Call(f"{name}_{k}", func, (k, len(spec.inputs))))
        offset += operand.shape[axis]
    return calls


def _copy(name: str, numel: int, seg: int, start: int, row: int, out, cuda: bool, config: dict[str, Any]):
    """PrimFunc copying a flat operand of ``numel`` elements, ``seg`` per outer index, to ``out``."""
    loop = flat(cuda, config, numel)
    dtype = out.dtype

    def make_body(b_x, b_y):
        @T.macro
        def body(i):
            b_y[i // seg * row + start + i % seg] = b_x[i]

        return body

    @T.prim_func
    def copy_fn(a_x: T.handle, a_out: T.handle):
        T.func_attr({"global_symbol": name, "tir.noalias": True})
        xb = T.match_buffer(a_x, (numel,), dtype, align=ALIGN)
        yb = T.match_buffer(a_out, (out.numel,), dtype, align=ALIGN)
        loop(make_body(xb, yb))

    return copy_fn


def name_tokens(spec: KernelSpec) -> list[str]:
    return [f"a{spec.attr('axis')}".replace("-", "m"), shape_token(spec.output)]
