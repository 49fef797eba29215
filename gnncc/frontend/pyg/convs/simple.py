"""SimpleConv: ``aggr_j x_j`` with no weights, its root combined per ``combine_root``.

``'sum'`` adds ``x``, ``'cat'`` puts ``x`` before the aggregate, and ``'self_loop'`` adds one
self-loop per node before aggregating, keeping the graph's own (PyG's plain ``add_self_loops``).
The layer has no parameters, so a model that starts with it needs ``in_features=``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import SimpleConv

from gnncc.frontend.pyg.convs.common import edge_weight_of, propagate, reduce_of, self_loop_values, with_self_loops
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: SimpleConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    weight = edge_weight_of(conv, qualname, edge)
    if conv.combine_root == "self_loop" and weight is not None:  # PyG's add_self_loops: new loops weigh 1
        adj, weight = self_loop_values(ctx, weight, adj, 1.0, keep_existing=True)
    elif conv.combine_root == "self_loop":
        adj = with_self_loops(ctx, adj, keep_existing=True)
    out = propagate(ctx, x, adj, reduce, weight)
    if conv.combine_root == "sum":
        return ctx.emit("add", [out, x])
    if conv.combine_root == "cat":
        return ctx.emit("concat", [x, out], axis=-1)
    return out
