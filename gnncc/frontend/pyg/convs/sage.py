"""SAGEConv: ``lin_l(aggr_j x_j) + lin_r(x_i)``, optionally projected first and L2-normalised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import SAGEConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: SAGEConv, qualname: str, x: Value, adj: Value) -> Value:
    reduce = reduce_of(conv, qualname)
    src = x
    if conv.project:  # only the neighbours' features are projected (PyG: x = (relu(lin(x[0])), x[1]))
        src = ctx.emit("relu", [ctx.linear_module(conv.lin, qualify(qualname, "lin"), x)])
    out = ctx.linear_module(conv.lin_l, qualify(qualname, "lin_l"), propagate(ctx, src, adj, reduce))
    if conv.root_weight:
        out = ctx.emit("add", [out, ctx.linear_module(conv.lin_r, qualify(qualname, "lin_r"), x)])
    if conv.normalize:
        out = ctx.emit("l2_normalize", [out], eps=1e-12)
    return out
