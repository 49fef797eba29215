"""CGConv (crystal graph conv): ``x_i + bn(aggr_j sigmoid(lin_f(z)) * softplus(lin_s(z)))``, ``z = [x_i, x_j(, e_ji)]``.

The messages are ``[E, F]``; ``lin_f`` and ``lin_s`` never see ``z``: each is split by its weight's
columns into a ``x_i`` and a ``x_j`` part, multiplied on the nodes and gathered, plus (with ``dim``)
an edge part folded per graph. ``batch_norm=True`` is the eval-mode ``BatchNorm1d`` of the general
module rules, an affine map per feature from the running statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import CGConv

from gnncc.frontend.pyg.convs.common import concat_linear, edge_features_of, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: CGConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if isinstance(conv.channels, tuple) and conv.channels[0] != conv.channels[1]:
        raise unsupported(conv, qualname, f"has channels={conv.channels}, which needs a pair of node feature "
                          "tensors (bipartite); only one x is supported")
    reduce = reduce_of(conv, qualname)
    parts = [("dst", x, "dst"), ("src", x, "src")]
    if conv.dim:
        parts.append(("edges", edge_features_of(ctx, conv, qualname, edge, conv.dim), None))
    elif edge is not None:
        raise unsupported(conv, qualname, "is given edge features but has dim=0; set dim to their width")

    def through(name: str) -> Value:
        return concat_linear(ctx, getattr(conv, name), qualify(qualname, name), adj, parts)

    messages = ctx.emit("mul", [ctx.emit("sigmoid", [through("lin_f")]), ctx.emit("softplus", [through("lin_s")])])
    out = ctx.emit("scatter", [messages, adj], reduce=reduce)
    if conv.bn is not None:
        out = ctx.call_module(conv.bn, qualify(qualname, "bn"), [out], {})
    return ctx.emit("add", [out, x])
