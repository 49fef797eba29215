"""ResGatedGraphConv: ``sum_j act(k_i + q_j) * v_j + lin_skip(x_i) + b`` (residual gated graph conv).

The gate is one value per edge and feature, so the messages are ``[E, F]`` tensors: the gate
sum is an SDDMM, the product and the reduction stay gather/scatter. ``act`` is lowered with the
general module rules. With ``edge_dim``, each of ``k``, ``q``, ``v`` is ``lin([x, e_ji])``, lowered
as ``lin_x(x)`` on the nodes, gathered, plus ``lin_e(e_ji)``, which is folded per graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import ResGatedGraphConv

from gnncc.frontend.pyg.convs.common import concat_linear, edge_features_of, reduce_of, submodule, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: ResGatedGraphConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    act = submodule(conv, qualname, "act")
    reduce = reduce_of(conv, qualname)
    if conv.edge_dim is not None:
        edge = edge_features_of(ctx, conv, qualname, edge, conv.edge_dim)
    elif edge is not None:
        raise unsupported(conv, qualname, "is given edge features but has no edge_dim to read them")

    def project(name: str, end: str) -> Value:
        lin, where = getattr(conv, name), qualify(qualname, name)
        if edge is None:
            return ctx.emit("gather", [ctx.linear_module(lin, where, x), adj], end=end)
        # lin([x, e]) = x W_x + e W_e + b: the node part on the nodes, then gathered
        return concat_linear(ctx, lin, where, adj, [("nodes", x, end), ("edges", edge, None)])

    gate = ctx.emit("add", [project("lin_key", "dst"), project("lin_query", "src")])
    gate = ctx.call_module(act, qualify(qualname, "act"), [gate], {})
    out = ctx.emit("scatter", [ctx.emit("mul", [gate, project("lin_value", "src")]), adj], reduce=reduce)
    if conv.root_weight:
        out = ctx.emit("add", [out, ctx.linear_module(conv.lin_skip, qualify(qualname, "lin_skip"), x)])
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
