"""SGConv: ``lin(A_hat^K x)``, ``K`` hops of GCN-normalised propagation, then one linear layer.

The ``K`` hops (a Python loop inside PyG's leaf) are unrolled into straight-line IR; ``cached``
only saves PyG recomputing them per call and does not change the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import SGConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: SGConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops)
    for _ in range(conv.K):
        x = propagate(ctx, x, adj, reduce, weight)
    return ctx.linear_module(conv.lin, qualify(qualname, "lin"), x)
