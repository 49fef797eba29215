"""Stable text form of the IR (used by ``explain()`` and by snapshot tests).

Values are renumbered in order of appearance, so the text does not depend on
how many values a pass created and threw away.
"""

from __future__ import annotations

from typing import Any

from gnncc.ir.function import Function, Value

# Attributes shown elsewhere in the line (name, type) or implied by the type (symbol).
_HIDDEN_ATTRS = {"name", "type", "nnz_symbol"}
# Attributes whose empty value means "off": shown only when set.
_HIDDEN_WHEN_EMPTY = {"x_cols", "dst_op"}


def _fmt_attr(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt_attr(v) for v in value) + "]"
    return str(value)


def print_function(fn: Function, name: str = "main") -> str:
    names: dict[Value, str] = {}

    def ref(v: Value) -> str:
        return names[v]

    lines = []
    for v in fn.inputs:
        names[v] = f"%{v.node.attrs['name']}"
    sig = ", ".join(f"{names[v]}: {v.type}" for v in fn.inputs)
    counter = 0
    body = []
    for node in fn.nodes:
        if node.op == "input":
            continue
        names[node.output] = f"%{counter}"
        counter += 1
        text = f"  {names[node.output]} = {node.op}"
        if node.op == "const":
            text += f' "{node.attrs["name"]}"'
        else:
            text += "(" + ", ".join(ref(v) for v in node.inputs) + ")"
        shown = {k: v for k, v in sorted(node.attrs.items())
                 if k not in _HIDDEN_ATTRS and not (k in _HIDDEN_WHEN_EMPTY and not v)}
        if shown:
            text += " {" + ", ".join(f"{k}={_fmt_attr(v)}" for k, v in shown.items()) + "}"
        text += f" : {node.output.type}"
        body.append(text)
    outs = ", ".join(ref(v) for v in fn.outputs)
    out_types = ", ".join(str(v.type) for v in fn.outputs)
    lines.append(f"func @{name}({sig}) -> ({out_types}) {{")
    lines.extend(body)
    lines.append(f"  return {outs}")
    lines.append("}")
    return "\n".join(lines)
