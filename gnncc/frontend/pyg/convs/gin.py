"""GINConv: ``nn((1 + eps) * x_i + aggr_j x_j)``; ``nn`` is lowered with the general op tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GINConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, submodule
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GINConv, qualname: str, x: Value, adj: Value) -> Value:
    mlp = submodule(conv, qualname, "nn")
    out = propagate(ctx, x, adj, reduce_of(conv, qualname))
    scale = ctx.param(qualify(qualname, "one_plus_eps"), 1 + conv.eps.detach())  # current eps
    out = ctx.emit("add", [out, ctx.emit("mul", [scale, x])])
    return ctx.call_module(mlp, qualify(qualname, "nn"), [out], {})
