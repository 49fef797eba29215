"""TAGConv: ``sum_k lins[k](A_hat^k x) + b``, ``A_hat`` GCN-normalised without self-loops.

The ``K`` hops are unrolled; each hop's result feeds both the next hop and its own linear layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import TAGConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: TAGConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, self_loops=False)
    out = ctx.linear_module(conv.lins[0], qualify(qualname, "lins.0"), x)
    for k, lin in enumerate(conv.lins[1:], start=1):
        x = propagate(ctx, x, adj, reduce, weight)
        out = ctx.emit("add", [out, ctx.linear_module(lin, qualify(qualname, f"lins.{k}"), x)])
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
