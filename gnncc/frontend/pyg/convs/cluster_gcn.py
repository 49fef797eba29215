"""ClusterGCNConv: ``lin_out(D^-1 (A + I) x + lambda D^-1 x) + lin_root(x)`` (diagonal enhancement).

Self-loops are re-added (existing ones dropped) and ``D`` counts in-edges with them, as PyG's
edge_index path does; its edge value ``1 / deg[dst]`` is graph-only IR, folded per graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import ClusterGCNConv

from gnncc.frontend.pyg.convs.common import (
    inverse_degree,
    propagate,
    reduce_of,
    scale_rows,
    unsupported,
    with_self_loops,
)
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: ClusterGCNConv, qualname: str, x: Value, adj: Value) -> Value:
    if not conv.add_self_loops:  # PyG then adds lambda/deg to the graph's own self-loops by position
        raise unsupported(conv, qualname, "has add_self_loops=False, which is unsupported (only the default, "
                          "True, has a meaning independent of the order of the graph's self-loops)")
    reduce = reduce_of(conv, qualname)
    adj = with_self_loops(ctx, adj)
    inv = inverse_degree(ctx, adj)
    out = propagate(ctx, x, adj, reduce, ctx.emit("gather", [inv, adj], end="dst"))
    diag = ctx.emit("mul", [inv, ctx.scalar(conv.diag_lambda)])
    out = ctx.emit("add", [out, scale_rows(ctx, x, diag)])
    out = ctx.linear_module(conv.lin_out, qualify(qualname, "lin_out"), out)
    return ctx.emit("add", [out, ctx.linear_module(conv.lin_root, qualify(qualname, "lin_root"), x)])
