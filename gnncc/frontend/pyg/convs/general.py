"""GeneralConv (GraphGym): ``mean_h aggr_j alpha_ji^h m_ji^h + lin_self(x_i)``, optionally L2-normalised.

The message per head is ``m_ji = lin_msg(x_j) (+ lin_msg_i(x_i) unless directed_msg) (+ lin_edge(e_ji))``,
viewed as ``[E, heads, out]``; every Linear runs on the nodes (or, for ``lin_edge``, is folded per
graph) and is gathered. Without attention ``alpha = 1``. With it, ``alpha`` is the edge softmax of
``leaky_relu(s, 0.2)``: additive ``s = m_ji . att_msg``, taken apart like GAT's logits into node
terms and an edge term; dot-product ``s = m_ij . m_ji / sqrt(out)``, ``m_ij`` the message with the
ends swapped. Heads are averaged after the aggregation, as in PyG. ``lin_self`` is a Linear, or the
identity when ``in_channels == out_channels`` without ``skip_linear``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from torch_geometric.nn import GeneralConv

from gnncc.frontend.pyg.convs.common import edge_features_of, propagate, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

_SLOPE = 0.2  # PyG's fixed leaky_relu slope for the attention scores
_OTHER_END = {"src": "dst", "dst": "src"}


def lower(ctx: LoweringContext, conv: GeneralConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    heads, width = conv.heads, conv.out_channels

    def per_head(v: Value) -> Value:  # [rows, heads * out] -> [rows, heads, out]; one head stays 2-D
        return v if heads == 1 else ctx.emit("reshape", [v], shape=[v.type.shape[0], heads, width])

    def linear(name: str, v: Value) -> Value:
        return per_head(ctx.linear_module(getattr(conv, name), qualify(qualname, name), v))

    if edge is not None:  # PyG adds lin_edge(edge_attr) whenever it is given; without edge_attr it has no edge term
        if conv.in_edge_channels is None:
            raise unsupported(conv, qualname, "is given edge features but has no in_edge_channels to project them")
        edge = linear("lin_edge", edge_features_of(ctx, conv, qualname, edge, conv.in_edge_channels))
    # m = sources[src] + targets[dst] + edge, each term optional but the first
    sources = linear("lin_msg", x)
    targets = None if conv.directed_msg else linear("lin_msg_i", x)

    @functools.cache
    def message(source_end: str) -> Value:
        """The message with its ``x_j`` read at ``source_end`` (``"dst"``: the ends swapped), emitted once."""
        out = ctx.emit("gather", [sources, adj], end=source_end)
        if targets is not None:
            out = ctx.emit("add", [out, ctx.emit("gather", [targets, adj], end=_OTHER_END[source_end])])
        return out if edge is None else ctx.emit("add", [out, edge])

    alpha = None
    if conv.attention:
        if conv.attention_type == "dot_product":
            scores = ctx.emit("mul", [message("dst"), message("src")])
            scores = ctx.emit("div", [ctx.emit("reduce_sum", [scores], axis=-1), ctx.scalar(float(conv.scaler))])
        else:  # additive: m . att = sources[src] . att + targets[dst] . att + edge . att
            att = ctx.param(qualify(qualname, "att_msg"), conv.att_msg.reshape(heads, width))  # [1, out] for one head

            def logits(v: Value) -> Value:
                return ctx.emit("reduce_sum", [ctx.emit("mul", [v, att])], axis=-1)

            scores = ctx.emit("gather", [logits(sources), adj], end="src")
            if targets is not None:
                scores = ctx.emit("add", [scores, ctx.emit("gather", [logits(targets), adj], end="dst")])
            if edge is not None:
                scores = ctx.emit("add", [scores, logits(edge)])
        alpha = ctx.emit("edge_softmax", [adj, ctx.emit("leaky_relu", [scores], alpha=_SLOPE)])
    if targets is None and edge is None:  # messages are the source rows: an SpMM
        out = propagate(ctx, sources, adj, reduce, alpha)
    else:
        messages = message("src")
        if alpha is not None:
            messages = ctx.emit("mul", [messages, ctx.emit("reshape", [alpha], shape=[-1, *alpha.type.shape[1:], 1])])
        out = ctx.emit("scatter", [messages, adj], reduce=reduce)
    if heads > 1:
        out = ctx.emit("reduce_mean", [out], axis=1)
    out = ctx.emit("add", [out, ctx.call_module(conv.lin_self, qualify(qualname, "lin_self"), [x], {})])
    return ctx.emit("l2_normalize", [out], eps=1e-12) if conv.normalize_l2 else out
