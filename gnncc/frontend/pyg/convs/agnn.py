"""AGNNConv: ``sum_j softmax_j(beta cos(x_i, x_j)) x_j`` over in-edges (attention-based propagation).

Self-loops are re-added (existing ones dropped) when ``add_self_loops``; the cosine is the dot
product of L2-normalised rows, an SDDMM after canonicalisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import AGNNConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, with_self_loops
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: AGNNConv, qualname: str, x: Value, adj: Value) -> Value:
    reduce = reduce_of(conv, qualname)
    adj = with_self_loops(ctx, adj) if conv.add_self_loops else adj
    unit = ctx.emit("l2_normalize", [x], eps=1e-12)
    cosine = ctx.emit("reduce_sum", [ctx.emit("mul", [ctx.emit("gather", [unit, adj], end="dst"),
                                                      ctx.emit("gather", [unit, adj], end="src")])], axis=-1)
    scores = ctx.emit("mul", [cosine, ctx.param(qualify(qualname, "beta"), conv.beta)])
    return propagate(ctx, x, adj, reduce, ctx.emit("edge_softmax", [adj, scores]))
