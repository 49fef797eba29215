"""LEConv: ``aggr_j (a_j - b_i) + lin3(x_i)`` with ``a = lin1(x)``, ``b = lin2(x)`` (local extremum).

The message's ``b_i`` does not depend on the edge, so it is taken out of the aggregation:
``sum_j (a_j - b_i) = sum_j a_j - deg_i * b_i``, and for mean or max ``- b_i`` where the node has
in-edges (a node without any gets 0, as PyG gives). No ``[E, F]`` messages are formed, except for
max aggregation with edge weights, where ``w_ij (a_j - b_i)`` does not split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import LEConv

from gnncc.frontend.pyg.convs.common import degree, edge_weight_of, propagate, reduce_of, scale_rows
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: LEConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    weight = edge_weight_of(conv, qualname, edge)
    a = ctx.linear_module(conv.lin1, qualify(qualname, "lin1"), x)
    b = ctx.linear_module(conv.lin2, qualify(qualname, "lin2"), x)
    if weight is None:
        count = degree(ctx, adj)
        if reduce != "sum":
            count = ctx.emit("minimum", [count, ctx.scalar(1.0)])
    elif reduce == "max":  # max_j w_ij (a_j - b_i) does not split into a_j and b_i terms: [E, F] messages
        a_j, b_i = ctx.emit("gather", [a, adj], end="src"), ctx.emit("gather", [b, adj], end="dst")
        differences = ctx.emit("sub", [a_j, b_i])
        messages = ctx.emit("mul", [differences, ctx.emit("reshape", [weight], shape=[-1, 1])])
        out = ctx.emit("scatter", [messages, adj], reduce="max")
        return ctx.emit("add", [out, ctx.linear_module(conv.lin3, qualify(qualname, "lin3"), x)])
    else:  # sum or mean of w_ij (a_j - b_i) = the same of w_ij a_j, less b_i times that of w_ij
        count = ctx.memo(("weight_sum", adj, weight, reduce),
                         lambda: ctx.emit("scatter", [weight, adj], reduce=reduce))
    out = ctx.emit("sub", [propagate(ctx, a, adj, reduce, weight), scale_rows(ctx, b, count)])
    return ctx.emit("add", [out, ctx.linear_module(conv.lin3, qualify(qualname, "lin3"), x)])
