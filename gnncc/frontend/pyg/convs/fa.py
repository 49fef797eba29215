"""FAConv: ``sum_j tanh(a_l . x_j + a_r . x_i) w_ij x_j + eps x_0`` (frequency-adaptive attention).

``w`` is GCN's normalisation (self-loops per ``add_self_loops``). The attention has no softmax,
so the edge value is ``tanh(sddmm) * w``, one SpMM's weights. Without ``normalize`` PyG needs
edge weights, which ``conv(x, x_0, edge_index)`` does not pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import FAConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, unsupported
from gnncc.frontend.pyg.convs.gcn import gcn_normalised
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: FAConv, qualname: str, x: Value, adj: Value, x_0: Value) -> Value:
    if not conv.normalize:
        raise unsupported(conv, qualname, "has normalize=False, which needs edge weights; only normalize=True "
                          "is supported")
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_normalised(ctx, adj, conv.add_self_loops)

    def logit(name: str, end: str) -> Value:
        a = ctx.linear_module(getattr(conv, name), qualify(qualname, name), x)
        a = ctx.emit("reshape", [a], shape=[-1])
        return ctx.emit("gather", [a, adj], end=end)

    gate = ctx.emit("tanh", [ctx.emit("add", [logit("att_l", "src"), logit("att_r", "dst")])])
    out = propagate(ctx, x, adj, reduce, ctx.emit("mul", [gate, weight]))
    if conv.eps != 0.0:
        out = ctx.emit("add", [out, ctx.emit("mul", [x_0, ctx.scalar(conv.eps)])])
    return out
