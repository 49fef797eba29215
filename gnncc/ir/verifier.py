"""IR verifier: every operand defined before use, types re-inferred and equal, constants present."""

from __future__ import annotations

from gnncc.errors import IRError
from gnncc.ir.function import Function, const_type
from gnncc.ir.ops import complete_attrs, get_op, infer_type


def verify(fn: Function) -> None:
    """Raise ``IRError`` naming the first ill-formed node."""
    defined = set()
    for i, node in enumerate(fn.nodes):
        where = f"node {i} ({node.op})"
        opdef = get_op(node.op)
        if complete_attrs(opdef, node.attrs) != node.attrs:
            raise IRError(f"{where}: attributes {node.attrs} are incomplete")
        for v in node.inputs:
            if v not in defined:
                raise IRError(f"{where}: operand {v.name} is used before it is defined")
        inferred = infer_type(node.op, [v.type for v in node.inputs], node.attrs)
        if inferred != node.output.type:
            raise IRError(f"{where}: recorded type {node.output.type} != inferred {inferred}")
        if node.op == "const":
            name = node.attrs["name"]
            if name not in fn.constants:
                raise IRError(f"{where}: constant {name!r} has no data")
            if const_type(fn.constants[name]) != node.output.type:
                raise IRError(f"{where}: constant {name!r} data does not match {node.output.type}")
        defined.add(node.output)
    for v in fn.inputs:
        if v.node.op != "input" or v not in defined:
            raise IRError(f"function input {v.name} is not an input node of the function")
    for v in fn.outputs:
        if v not in defined:
            raise IRError(f"function output {v.name} is not defined")
