"""Dead-code elimination: drop nodes whose values reach no output."""

from __future__ import annotations

from gnncc.ir.function import Function, Value
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "dead_code_elimination"


@register_pass(NAME, "remove values no output depends on")
def dead_code_elimination(fn: Function, ctx: PassContext) -> Function:
    live: set[Value] = set(fn.outputs) | set(fn.inputs)
    for node in reversed(fn.nodes):
        if node.output in live:
            live.update(node.inputs)
    return rewrite(fn, lambda node, b, new: None, keep=lambda node: node.output in live)
