"""GINEConv: ``nn((1 + eps) * x_i + sum_j relu(x_j + W_e e_ji))``, GIN with edge features.

The edge term ``W_e e_ji`` (``lin`` when the layer has ``edge_dim``, else the features as given) is
graph-only: it is folded per graph, so each call adds a constant edge tensor to the gathered rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GINEConv

from gnncc.frontend.pyg.convs.common import added_edge_features, reduce_of, unsupported
from gnncc.frontend.pyg.convs.gin import gin_update
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GINEConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if conv.lin is None and (edge is None or edge.type.rank != 2):
        raise unsupported(conv, qualname, "needs edge features of shape [E, D]: call it as conv(x, edge_index, "
                          f"edge_attr) on a graph with edge_attr (got {'none' if edge is None else edge.type})")
    gathered = ctx.emit("gather", [x, adj], end="src")
    messages = ctx.emit("relu", [added_edge_features(ctx, conv, qualname, gathered, edge, "lin")])
    return gin_update(ctx, conv, qualname, ctx.emit("scatter", [messages, adj], reduce=reduce_of(conv, qualname)), x)
