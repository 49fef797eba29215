"""TransformerConv: per-head ``softmax_j(q_i . k_j / sqrt(C))``-weighted sum of ``v_j``, plus a skip.

Follows PyG 2.8: query from the target, key and value from the source, no self-loops added,
heads concatenated or averaged, then ``lin_skip(x)`` added, or mixed with the gate
``sigmoid(lin_beta([out, x_r, out - x_r]))`` when ``beta``. The scores are one SDDMM per head;
attention dropout is off in eval mode. With ``edge_dim``, the projected edge features ``e_ji``
join both the keys and the values: ``q_i . (k_j + e_ji)`` and ``sum_j alpha_ji (v_j + e_ji)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch_geometric.nn import TransformerConv

from gnncc.frontend.pyg.convs.common import (
    combine_heads,
    edge_features_of,
    project_heads,
    propagate,
    reduce_of,
    unsupported,
)
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: TransformerConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    if conv.lin_edge is not None:
        edge = edge_features_of(ctx, conv, qualname, edge, conv.edge_dim)
        edge = ctx.emit("reshape", [ctx.linear_module(conv.lin_edge, qualify(qualname, "lin_edge"), edge)],
                        shape=[-1, conv.heads, conv.out_channels])
    elif edge is not None:
        raise unsupported(conv, qualname, "is given edge features but has no edge_dim to project them")
    query, key, value = (project_heads(ctx, conv, qualname, name, x) for name in ("lin_query", "lin_key", "lin_value"))
    keys = ctx.emit("gather", [key, adj], end="src")
    if edge is not None:
        keys = ctx.emit("add", [keys, edge])
    dot = ctx.emit("mul", [ctx.emit("gather", [query, adj], end="dst"), keys])
    scores = ctx.emit("div", [ctx.emit("reduce_sum", [dot], axis=-1), ctx.scalar(math.sqrt(conv.out_channels))])
    alpha = ctx.emit("edge_softmax", [adj, scores])
    if edge is None:
        out = propagate(ctx, value, adj, reduce, alpha)
    else:  # alpha_ji (v_j + e_ji)
        messages = ctx.emit("add", [ctx.emit("gather", [value, adj], end="src"), edge])
        weights = ctx.emit("reshape", [alpha], shape=[-1, conv.heads, 1])
        out = ctx.emit("scatter", [ctx.emit("mul", [messages, weights]), adj], reduce=reduce)
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
