"""Merge the dense transforms of one input into a single matmul that reads the input once.

SAGE computes ``x @ W_l`` (aggregated) and ``x @ W_r`` (the root term) from the same ``x``; after
reordering both are ``[N, K] x [K, C]`` over a wide input, and each reads all of ``x``: on
ogbn_arxiv two 87 MB reads for 2 x 11 MB of results. This pass replaces sibling matmuls (same
left operand, constant weights) by one ``x @ [W_1 | W_2 | ...]`` whose ``[N, C_1 + C_2 + ...]``
result the consumers read through column windows: a ``fused_spmm`` aggregates ``x_cols`` of it, an
epilogue reads its operand as ``node@col``. It merges only matmuls whose every use can take a
window, so no slice is ever copied out, and runs last, on the fused kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.ops import attention_epilogue_start, fused_spmm_epilogue_start, parse_epilogue
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "merge_sibling_matmuls"
# ops whose epilogue operands start at a fixed position (fused_spmm: after the edge values and destination
# rows, if any)
EPILOGUE_START: dict[str, Callable[[Node], int]] = {
    "fused_spmm": lambda n: fused_spmm_epilogue_start(n.attrs),
    "attention_spmm": lambda n: attention_epilogue_start(n.attrs),
    "fused_matmul": lambda n: 2,
}


@dataclass(frozen=True)
class _Window:
    """Where a merged matmul's output sits in the merged result: columns ``start..stop``."""

    merged: Node  # the group's first matmul, where the merged one is emitted
    start: int
    stop: int


def _epilogue_index(user: Node, position: int) -> int | None:
    """Which binary epilogue step reads ``user``'s operand ``position``, if it is an epilogue operand."""
    start = EPILOGUE_START.get(user.op)
    if start is None or position < start(user):
        return None
    return position - start(user)


def _windowable(value: Value, user: Node) -> bool:
    """Whether every operand of ``user`` that is ``value`` can read a column window of a wider tensor."""
    binary = [s for s in parse_epilogue(user.attrs.get("epilogue", ())) if s.kind is not None]
    for position, v in enumerate(user.inputs):
        if v is not value:
            continue
        if user.op == "fused_spmm" and position == 1 and not user.attrs["x_cols"]:
            continue
        step = _epilogue_index(user, position)
        if step is None or binary[step].kind != "node" or binary[step].col is not None:
            return False
    return True


def _mergeable(node: Node, users: dict[Value, list[Node]], outputs: set[Value]) -> bool:
    if node.op != "matmul":
        return False
    w = node.inputs[1]
    return (w.node.op == "const" and isinstance(w.type, TensorType)
            and w.type.is_concrete and w.type.dtype == "float32" and node.output not in outputs
            and bool(users[node.output]) and all(_windowable(node.output, u) for u in users[node.output]))


def _groups(fn: Function, users: dict[Value, list[Node]]) -> list[list[Node]]:
    """Mergeable matmuls sharing their left operand, two or more of them, in program order."""
    outputs = set(fn.outputs)
    by_input: dict[Value, list[Node]] = {}
    for node in fn.nodes:
        if _mergeable(node, users, outputs):
            by_input.setdefault(node.inputs[0], []).append(node)
    return [group for group in by_input.values() if len(group) >= 2]


def _windows(groups: list[list[Node]]) -> dict[Value, _Window]:
    """Each merged matmul's output -> its columns in its group's merged result."""
    windows = {}
    for group in groups:
        start = 0
        for node in group:
            width = node.output.type.shape[1]
            windows[node.output] = _Window(group[0], start, start + width)
            start += width
    return windows


def _rewritten_user(node: Node, b: Builder, new: Callable[[Value], Value], windows: dict[Value, _Window],
                    merged: dict[Node, Value]) -> Value:
    """``node`` with every operand that a merged matmul produced read through its window."""
    inputs = [merged[windows[v].merged] if v in windows else new(v) for v in node.inputs]
    attrs = dict(node.attrs)
    steps = parse_epilogue(attrs.get("epilogue", ()))
    binary = [i for i, s in enumerate(steps) if s.kind is not None]
    for position, v in enumerate(node.inputs):
        if v not in windows:
            continue
        step = _epilogue_index(node, position)
        if step is None:  # fused_spmm's aggregated rows
            attrs["x_cols"] = [windows[v].start, windows[v].stop]
        else:
            steps[binary[step]] = replace(steps[binary[step]], col=windows[v].start)
    if "epilogue" in attrs:
        attrs["epilogue"] = [str(s) for s in steps]
    return b.emit(node.op, inputs, **attrs)


@register_pass(NAME, "matmuls of one input -> one matmul whose column windows their users read")
def merge_sibling_matmuls(fn: Function, ctx: PassContext) -> Function:
    users = fn.users()
    groups = {group[0]: group for group in _groups(fn, users)}
    if not groups:
        return fn
    windows = _windows(list(groups.values()))
    dropped = {n for group in groups.values() for n in group[1:]}
    readers = {u for v in windows for u in users[v]}
    # the separate weights, unless something else reads them too
    members = {n for group in groups.values() for n in group}
    stale = {n.inputs[1].node for n in members if all(u in members for u in users[n.inputs[1]])}
    merged: dict[Node, Value] = {}

    def rule(node, b, new):
        if node in groups:
            group = groups[node]
            weight = torch.cat([fn.const_data(n.inputs[1]) for n in group], dim=1)
            name = "+".join(n.inputs[1].node.attrs["name"] for n in group)
            merged[node] = b.emit("matmul", [new(node.inputs[0]), b.const(name, weight)])
            return merged[node]
        if node in readers:
            return _rewritten_user(node, b, new, windows, merged)
        return None

    for first, group in groups.items():
        m, k = first.inputs[0].type.shape
        widths = [n.output.type.shape[1] for n in group]
        saved = (len(group) - 1) * m * k * 4 / 1024
        amount = f"{saved / 1024:.1f} MiB" if saved >= 1024 else f"{saved:.1f} KiB"
        ctx.note(NAME, f"{len(group)} matmuls of one [{m}, {k}] input -> one [{k} -> {sum(widths)}] "
                       f"(columns {', '.join(map(str, widths))}): the input read once, {amount} less read")
    return rewrite(fn, rule, keep=lambda n: n not in stale and n not in dropped)
