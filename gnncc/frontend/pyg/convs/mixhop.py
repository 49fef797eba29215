"""MixHopConv: ``concat_{p in powers} lins[p](A_hat^p x) + b``, ``A_hat`` GCN-normalised.

Hops are unrolled up to the largest power; only the listed powers get a linear layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import MixHopConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: MixHopConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops)
    hops = [x]
    for _ in range(max(conv.powers)):
        hops.append(propagate(ctx, hops[-1], adj, reduce, weight))
    outs = [ctx.linear_module(conv.lins[p], qualify(qualname, f"lins.{p}"), hops[p]) for p in conv.powers]
    out = outs[0] if len(outs) == 1 else ctx.emit("concat", outs, axis=-1)
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
