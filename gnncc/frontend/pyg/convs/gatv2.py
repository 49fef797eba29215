"""GATv2Conv: attention ``softmax_j(att . leaky_relu(W_l x_j + W_r x_i))`` over in-edges, per head.

Follows PyG 2.8: both projections to ``[N, H, C]`` (one shared with ``share_weights``), self-loops
re-added (existing ones dropped), per-edge scores from the sum of the source and target rows,
edge softmax per target, weighted sum of the source rows ``W_l x_j``, heads concatenated or
averaged, plus residual and bias. Attention dropout is off in eval mode. With ``edge_dim`` and
edge features, ``W_e e_ji`` joins the sum inside the ``leaky_relu``; the new self-loops' features
come from ``fill_value``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GATv2Conv

from gnncc.frontend.pyg.convs.common import combine_heads, project_edges, project_heads, propagate, reduce_of
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GATv2Conv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)

    def project(name: str) -> Value:
        return project_heads(ctx, conv, qualname, name, x)

    res = None if conv.res is None else ctx.linear_module(conv.res, qualify(qualname, "res"), x)
    x_l = project("lin_l")
    x_r = x_l if conv.share_weights else project("lin_r")
    adj, edge = project_edges(ctx, conv, qualname, adj, edge)
    mixed = ctx.emit("add", [ctx.emit("gather", [x_l, adj], end="src"), ctx.emit("gather", [x_r, adj], end="dst")])
    if edge is not None:
        mixed = ctx.emit("add", [mixed, edge])
    mixed = ctx.emit("leaky_relu", [mixed], alpha=float(conv.negative_slope))
    scores = ctx.emit("reduce_sum", [ctx.emit("mul", [mixed, ctx.param(qualify(qualname, "att"), conv.att)])], axis=-1)
    out = propagate(ctx, x_l, adj, reduce, ctx.emit("edge_softmax", [adj, scores]))
    return combine_heads(ctx, conv, qualname, out, res)
