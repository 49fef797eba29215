"""Turn gather/scatter message passing into SpMM and SDDMM.

Frontends describe message passing as PyG executes it: gather node rows onto
edges, combine them with per-edge values, scatter-reduce into targets. That
materialises ``[E, F]`` tensors. These rewrites recognise the patterns and
replace them with fused sparse ops that never build the edge tensor:

- ``scatter(gather(x, A, src), A, r)``                 -> ``spmm(A, x, r)``
- ``scatter(mul(gather(x, A, src), w), A, r)``          -> ``spmm(A, x, w', r)``
  where ``w`` is one value per edge (``[E, 1]``) or per edge and head (``[E, H, 1]``)
- ``add|mul(gather(a, A, src), gather(b, A, dst))``     -> ``sddmm(A, a, b, add|mul)``
- ``reduce_sum(mul(gather(a, A, src), gather(b, A, dst)), axis=-1)`` -> ``sddmm(A, a, b, dot)``

The gathers left without users are removed by dead-code elimination.
"""

from __future__ import annotations

from collections.abc import Callable

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "canonicalize_message_passing"


def _gathered(v: Value, end: str) -> Node | None:
    node = v.node
    if node.op == "gather" and node.attrs["end"] == end:
        return node
    return None


def _edge_weight(w: Value, msg_type: TensorType) -> tuple[Value, tuple] | None:
    """If ``w`` holds one value per edge (and head) broadcast over the feature axis,
    return the value to read it from and the compact shape it has."""
    t = w.type
    if not isinstance(t, TensorType) or t.rank != msg_type.rank or t.shape[-1] != 1:
        return None
    if tuple(t.shape[:-1]) != tuple(msg_type.shape[:-1]):
        return None
    compact = tuple(t.shape[:-1])
    source = w.node.inputs[0] if w.node.op == "reshape" else w
    return source, compact


def _match_spmm(scatter: Node) -> tuple[Value, Value | None, Value] | None:
    """(x, edge values or None, weight source) for a scatter fed by gathered rows."""
    msg, adj = scatter.inputs
    g = _gathered(msg, "src")
    if g is not None and g.inputs[1] is adj:
        return g.inputs[0], None, None
    if msg.node.op != "mul":
        return None
    for gathered, other in (msg.node.inputs, msg.node.inputs[::-1]):
        g = _gathered(gathered, "src")
        if g is None or g.inputs[1] is not adj or gathered.type != msg.type:
            continue
        weight = _edge_weight(other, msg.type)
        if weight is not None:
            return g.inputs[0], other, weight[0]
    return None


def _match_sddmm(node: Node) -> tuple[Value, Value, Value] | None:
    """(adj, a, b) when ``node`` combines a source gather with a destination gather."""
    if node.op not in ("add", "mul"):
        return None
    p, q = node.inputs
    for u, v in ((p, q), (q, p)):
        gs, gd = _gathered(u, "src"), _gathered(v, "dst")
        if gs is None or gd is None or gs.inputs[1] is not gd.inputs[1]:
            continue
        if u.type != v.type or node.output.type != u.type:
            continue
        return gs.inputs[1], gs.inputs[0], gd.inputs[0]
    return None


def _rule(node: Node, b: Builder, new: Callable[[Value], Value]) -> Value | None:
    if node.op == "scatter":
        match = _match_spmm(node)
        if match is None:
            return None
        x, weight, source = match
        adj = new(node.inputs[1])
        if weight is None:
            return b.emit("spmm", [adj, new(x)], reduce=node.attrs["reduce"])
        compact = tuple(weight.type.shape[:-1])
        w = new(source)
        if w.type.shape != compact:
            w = b.emit("reshape", [w], shape=[-1, *compact[1:]])
        return b.emit("spmm", [adj, new(x), w], reduce=node.attrs["reduce"])
    if node.op == "reduce_sum" and node.inputs[0].node.op == "mul":
        x = node.inputs[0]
        if node.attrs["axis"] % x.type.rank != x.type.rank - 1:
            return None
        match = _match_sddmm(x.node)
        if match is not None and x.type.rank >= 2:
            adj, u, v = match
            return b.emit("sddmm", [new(adj), new(u), new(v)], op="dot")
        return None
    match = _match_sddmm(node)
    if match is not None:
        adj, u, v = match
        return b.emit("sddmm", [new(adj), new(u), new(v)], op=node.op)
    return None


@register_pass(NAME, "gather/scatter message passing -> spmm / sddmm")
def canonicalize_message_passing(fn: Function, ctx: PassContext) -> Function:
    out = rewrite(fn, _rule)
    before = sum(n.op in ("gather", "scatter") for n in fn.nodes)
    fused = sum(n.op in ("spmm", "sddmm") for n in out.nodes) - sum(n.op in ("spmm", "sddmm") for n in fn.nodes)
    if fused:
        ctx.note(NAME, f"{fused} sparse op(s) formed from {before} gather/scatter op(s)")
    return out
