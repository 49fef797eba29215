"""GINConv: ``nn((1 + eps) * x_i + aggr_j x_j)``; ``nn`` is lowered with the general op tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GINConv, GINEConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, submodule
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def gin_update(ctx: LoweringContext, conv: GINConv | GINEConv, qualname: str, aggregated: Value, x: Value) -> Value:
    """``nn(aggregated + (1 + eps) * x)``: the node update of GINConv and GINEConv."""
    mlp = submodule(conv, qualname, "nn")
    scale = ctx.param(qualify(qualname, "one_plus_eps"), 1 + conv.eps.detach())  # current eps
    out = ctx.emit("add", [aggregated, ctx.emit("mul", [scale, x])])
    return ctx.call_module(mlp, qualify(qualname, "nn"), [out], {})


def lower(ctx: LoweringContext, conv: GINConv, qualname: str, x: Value, adj: Value) -> Value:
    submodule(conv, qualname, "nn")  # checked before any IR is emitted
    return gin_update(ctx, conv, qualname, propagate(ctx, x, adj, reduce_of(conv, qualname)), x)
