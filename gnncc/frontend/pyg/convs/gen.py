"""GENConv (DeeperGCN): ``mlp(aggr_j (relu(x_j) + eps) + x_i)``, ``aggr`` a softmax, sum, mean or max.

The softmax aggregation weighs each message feature by a softmax over the row's in-edges of
``t * m`` (per feature: an edge softmax with one "head" per feature), then sums ``m * alpha``;
the messages are ``[E, F]`` tensors, as in PyG. ``lin_src``, ``lin_dst`` (when the widths differ)
and the MLP are lowered with the general rules. Edge features join the messages,
``relu(x_j + e_ji) + eps`` (through ``lin_edge`` where ``edge_dim`` differs from the width).
Power-mean aggregation and message normalisation are not lowered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor
from torch_geometric.nn import GENConv
from torch_geometric.nn.aggr import SoftmaxAggregation

from gnncc.frontend.pyg.convs.common import added_edge_features, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GENConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if hasattr(conv, "msg_norm"):
        raise unsupported(conv, qualname, "has msg_norm=True, which is unsupported")
    softmax = isinstance(conv.aggr_module, SoftmaxAggregation)
    reduce = None if softmax else reduce_of(conv, qualname)

    def linear(name: str, v: Value) -> Value:
        return ctx.linear_module(getattr(conv, name), qualify(qualname, name), v) if hasattr(conv, name) else v

    messages = ctx.emit("gather", [linear("lin_src", x), adj], end="src")
    if edge is not None:  # x_j + e_ji (through lin_edge where edge_dim differs from out_channels)
        messages = added_edge_features(ctx, conv, qualname, messages, edge, "lin_edge")
    messages = ctx.emit("relu", [messages])
    messages = ctx.emit("add", [messages, ctx.scalar(conv.eps)])
    if softmax:
        t = conv.aggr_module.t
        scores = messages
        if isinstance(t, Tensor):  # learned: one value, or one per feature
            scores = ctx.emit("mul", [messages, ctx.param(qualify(qualname, "aggr_module.t"), t.view(1, -1))])
        elif t != 1:
            scores = ctx.emit("mul", [messages, ctx.scalar(t)])
        messages = ctx.emit("mul", [messages, ctx.emit("edge_softmax", [adj, scores])])
        reduce = "sum"
    out = linear("lin_aggr_out", ctx.emit("scatter", [messages, adj], reduce=reduce))
    out = ctx.emit("add", [out, linear("lin_dst", x)])
    return ctx.call_module(conv.mlp, qualify(qualname, "mlp"), [out], {})
