"""LGConv (LightGCN): ``D^-1/2 A D^-1/2 x``, GCN's normalisation without self-loops and without weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import LGConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: LGConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, self_loops=False)
    return propagate(ctx, x, adj, reduce_of(conv, qualname), weight)
