"""Drop arithmetic that changes nothing: ``x * 1``, ``x / 1``, ``x + 0``, ``x - 0`` with a constant.

GIN multiplies every node's own features by ``1 + eps``, a weight that is exactly 1 unless eps was
trained: a kernel reading and writing ``[N, F]`` for nothing. Only model constants are trusted:
a per-graph constant (``fold_graph_constants`` recomputes those for another graph when a library is
served) may be 1 on this graph and not on the next.
"""

from __future__ import annotations

import torch

from gnncc.ir.function import Function, Node, Value
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "simplify_arithmetic"
# op -> (the neutral value, whether it may stand on the left as well)
NEUTRAL = {"mul": (1.0, True), "div": (1.0, False), "add": (0.0, True), "sub": (0.0, False)}


def _neutral_const(fn: Function, v: Value, value: float, ctx: PassContext) -> bool:
    if not ctx.is_model_constant(v):
        return False
    data = fn.const_data(v)
    return isinstance(data, torch.Tensor) and data.is_floating_point() and bool((data == value).all())


def _kept_operand(fn: Function, node: Node, ctx: PassContext) -> Value | None:
    """The operand ``node`` passes through unchanged, if the other is a neutral constant that does not
    broadcast it to a larger shape."""
    if node.op not in NEUTRAL or len(node.inputs) != 2:
        return None
    value, either_side = NEUTRAL[node.op]
    lhs, rhs = node.inputs
    sides = [(lhs, rhs)] + ([(rhs, lhs)] if either_side else [])
    for kept, other in sides:
        if kept.type == node.output.type and _neutral_const(fn, other, value, ctx):
            return kept
    return None


@register_pass(NAME, "x * 1, x / 1, x + 0, x - 0 with a model constant -> x")
def simplify_arithmetic(fn: Function, ctx: PassContext) -> Function:
    outputs = set(fn.outputs)
    kept = {n: v for n in fn.nodes if n.output not in outputs and (v := _kept_operand(fn, n, ctx)) is not None}
    if not kept:
        return fn
    for node, v in kept.items():
        ctx.note(NAME, f"{node.op} by {'one' if node.op in ('mul', 'div') else 'zero'} on {v.type} dropped")

    def rule(node, b, new):
        return new(kept[node]) if node in kept else None  # the kept operand's value stands in

    return dead_code_elimination(rewrite(fn, rule), ctx)  # and the neutral constants go
