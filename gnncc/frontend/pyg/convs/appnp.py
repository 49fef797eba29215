"""APPNP: ``K`` steps of ``h <- (1 - alpha) * A_hat h + alpha * h0`` (personalised-PageRank propagation).

PyG runs the steps in a Python loop inside one ``MessagePassing`` leaf; this lowering unrolls
them into straight-line IR (one propagation per step), with ``alpha * h0`` computed once. The
normalised adjacency ``A_hat`` is GCN's (graph-only IR, folded once per graph); edge dropout
is off in eval mode. The fusion passes later fold each step's scale and teleport add into its
SpMM epilogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import APPNP

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: APPNP, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops)
    teleport = ctx.emit("mul", [x, ctx.scalar(conv.alpha)])
    keep = ctx.scalar(1 - conv.alpha)
    h = x
    for _ in range(conv.K):
        h = ctx.emit("add", [ctx.emit("mul", [propagate(ctx, h, adj, reduce, weight), keep]), teleport])
    return h
