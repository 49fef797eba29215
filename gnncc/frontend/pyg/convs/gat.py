"""GATConv: per-head attention ``softmax_j(leaky_relu(a_src . x_j + a_dst . x_i))`` over in-edges.

Follows PyG 2.8: linear projection to ``[N, H, C]``, node-level attention logits, self-loops
re-added (existing ones dropped), edge softmax per target, weighted sum of source rows, then
heads concatenated or averaged, plus residual and bias. Attention dropout is off in eval
mode. With ``edge_dim`` and edge features, ``a_edge . (W_e e_ji)`` joins each logit; the new
self-loops' features come from ``fill_value``. That term is graph-only: it is folded per graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GATConv

from gnncc.frontend.pyg.convs.common import combine_heads, project_edges, project_heads, propagate, reduce_of
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GATConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)

    def project(name: str) -> Value:
        return project_heads(ctx, conv, qualname, name, x)

    def logits(h: Value, att: str) -> Value:
        prod = ctx.emit("mul", [h, ctx.param(qualify(qualname, att), getattr(conv, att))])
        return ctx.emit("reduce_sum", [prod], axis=-1)

    res = None if conv.res is None else ctx.linear_module(conv.res, qualify(qualname, "res"), x)
    if conv.lin is not None:
        x_src = x_dst = project("lin")
    else:  # bipartite weights applied to the same node set
        x_src, x_dst = project("lin_src"), project("lin_dst")
    alpha_src, alpha_dst = logits(x_src, "att_src"), logits(x_dst, "att_dst")

    # PyG's GATConv ignores edge features without edge_dim
    adj, edge = project_edges(ctx, conv, qualname, adj, edge if conv.lin_edge is not None else None)
    scores = ctx.emit("add", [ctx.emit("gather", [alpha_src, adj], end="src"),
                              ctx.emit("gather", [alpha_dst, adj], end="dst")])
    if edge is not None:
        scores = ctx.emit("add", [scores, logits(edge, "att_edge")])
    scores = ctx.emit("leaky_relu", [scores], alpha=float(conv.negative_slope))
    alpha = ctx.emit("edge_softmax", [adj, scores])
    out = propagate(ctx, x_src, adj, reduce, alpha)
    return combine_heads(ctx, conv, qualname, out, res)
