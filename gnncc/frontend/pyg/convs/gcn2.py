"""GCN2Conv (GCNII): ``h = (1 - alpha) A_hat x + alpha x_0``, then ``(1 - beta) h + beta h W``.

With ``shared_weights=False`` the two parts keep their own weights: ``(1 - beta) p + beta p W1``
for the propagated part and the same with ``W2`` for the initial residual. ``A_hat`` is GCN's
normalisation (self-loops per ``add_self_loops``), or the plain adjacency without ``normalize``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GCN2Conv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GCN2Conv, qualname: str, x: Value, adj: Value, x_0: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops)
    h = ctx.emit("mul", [propagate(ctx, x, adj, reduce, weight), ctx.scalar(1 - conv.alpha)])
    h0 = ctx.emit("mul", [x_0, ctx.scalar(conv.alpha)])

    def identity_mapping(v: Value, name: str) -> Value:  # torch.addmm(v, v, W, beta=1-beta, alpha=beta)
        mapped = ctx.emit("matmul", [v, ctx.param(qualify(qualname, name), getattr(conv, name))])
        return ctx.emit("add", [ctx.emit("mul", [v, ctx.scalar(1 - conv.beta)]),
                                ctx.emit("mul", [mapped, ctx.scalar(conv.beta)])])

    if conv.weight2 is None:
        return identity_mapping(ctx.emit("add", [h, h0]), "weight1")
    return ctx.emit("add", [identity_mapping(h, "weight1"), identity_mapping(h0, "weight2")])
