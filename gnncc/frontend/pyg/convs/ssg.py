"""SSGConv: ``lin(alpha x + (1 - alpha) / K * sum_{k=1..K} A_hat^k x)`` (simple spectral graph convolution).

``A_hat`` is GCN's normalisation (self-loops as ``add_self_loops`` says); the ``K`` hops are
unrolled, and ``cached`` only saves PyG recomputing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import SSGConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: SSGConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops)
    h = ctx.emit("mul", [x, ctx.scalar(conv.alpha)])
    share = ctx.scalar((1 - conv.alpha) / conv.K)
    for _ in range(conv.K):
        x = propagate(ctx, x, adj, reduce, weight)
        h = ctx.emit("add", [h, ctx.emit("mul", [x, share])])
    return ctx.linear_module(conv.lin, qualify(qualname, "lin"), h)
