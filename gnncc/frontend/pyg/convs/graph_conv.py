"""GraphConv: ``lin_rel(aggr_j x_j) + lin_root(x_i)`` (Morris et al., "Weisfeiler and Leman Go Neural")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GraphConv

from gnncc.frontend.pyg.convs.common import edge_weight_of, propagate, reduce_of
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GraphConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    aggregated = propagate(ctx, x, adj, reduce_of(conv, qualname), edge_weight_of(conv, qualname, edge))
    out = ctx.linear_module(conv.lin_rel, qualify(qualname, "lin_rel"), aggregated)
    return ctx.emit("add", [out, ctx.linear_module(conv.lin_root, qualify(qualname, "lin_root"), x)])
