"""TransformerConv: per-head ``softmax_j(q_i . k_j / sqrt(C))``-weighted sum of ``v_j``, plus a skip.

Follows PyG 2.8: query from the target, key and value from the source, no self-loops added,
heads concatenated or averaged, then ``lin_skip(x)`` added, or mixed with the gate
``sigmoid(lin_beta([out, x_r, out - x_r]))`` when ``beta``. The scores are one SDDMM per head;
attention dropout is off in eval mode. Edge features cannot reach the layer, so a layer built
with ``edge_dim`` (which then requires them) is rejected.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch_geometric.nn import TransformerConv

from gnncc.frontend.pyg.convs.common import combine_heads, project_heads, propagate, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: TransformerConv, qualname: str, x: Value, adj: Value) -> Value:
    if conv.lin_edge is not None:
        raise unsupported(conv, qualname, f"has edge_dim={conv.edge_dim}, which needs edge features; "
                          "conv(x, edge_index) has none")
    reduce = reduce_of(conv, qualname)
    query, key, value = (project_heads(ctx, conv, qualname, name, x) for name in ("lin_query", "lin_key", "lin_value"))
    dot = ctx.emit("mul", [ctx.emit("gather", [query, adj], end="dst"), ctx.emit("gather", [key, adj], end="src")])
    scores = ctx.emit("div", [ctx.emit("reduce_sum", [dot], axis=-1), ctx.scalar(math.sqrt(conv.out_channels))])
    out = propagate(ctx, value, adj, reduce, ctx.emit("edge_softmax", [adj, scores]))
    out = combine_heads(ctx, conv, qualname, out, None, bias=False)
    if not conv.root_weight:
        return out
    skip = ctx.linear_module(conv.lin_skip, qualify(qualname, "lin_skip"), x)
    if conv.lin_beta is None:
        return ctx.emit("add", [out, skip])
    both = ctx.emit("concat", [out, skip, ctx.emit("sub", [out, skip])], axis=-1)
    gate = ctx.emit("sigmoid", [ctx.linear_module(conv.lin_beta, qualify(qualname, "lin_beta"), both)])
    rest = ctx.emit("sub", [ctx.scalar(1.0), gate])
    return ctx.emit("add", [ctx.emit("mul", [gate, skip]), ctx.emit("mul", [rest, out])])
