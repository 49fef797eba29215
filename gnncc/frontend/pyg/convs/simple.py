"""SimpleConv: ``aggr_j x_j`` with no weights, its root combined per ``combine_root``.

``'sum'`` adds ``x``, ``'cat'`` puts ``x`` before the aggregate, and ``'self_loop'`` adds one
self-loop per node before aggregating, keeping the graph's own (PyG's plain ``add_self_loops``).
The layer has no parameters, so a model that starts with it needs ``in_features=``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import SimpleConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, with_self_loops
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: SimpleConv, qualname: str, x: Value, adj: Value) -> Value:
    reduce = reduce_of(conv, qualname)
    if conv.combine_root == "self_loop":
        adj = with_self_loops(ctx, adj, keep_existing=True)
    out = propagate(ctx, x, adj, reduce)
    if conv.combine_root == "sum":
        return ctx.emit("add", [out, x])
    if conv.combine_root == "cat":
        return ctx.emit("concat", [x, out], axis=-1)
    return out
