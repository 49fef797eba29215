"""ChebConv: ``sum_k lins[k](T_k(L_hat) x) + b`` with the Chebyshev recurrence ``T_k = 2 L_hat T_{k-1} - T_{k-2}``.

PyG 2.8 scales the Laplacian by ``lambda_max = 2 max(L)``. For the ``sym`` and ``rw``
normalisations the largest entry of ``L`` is its unit diagonal, so ``lambda_max = 2`` on every
graph, ``L_hat = L - I`` has a zero diagonal, and ``L_hat x`` is one propagation over the graph
without self-loops with edge values ``-d^-1/2[src] d^-1/2[dst]`` (``sym``) or ``-d^-1[src]``
(``rw``), ``d`` counting out-edges (PyG's ``get_laplacian`` sums by ``edge_index[0]``). The
unnormalised Laplacian's ``lambda_max`` depends on the largest degree, and is not lowered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import ChebConv

from gnncc.frontend.pyg.convs.common import (
    degree,
    inverse_degree,
    propagate,
    reduce_of,
    unsupported,
    without_self_loops,
)
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def laplacian_edge_weight(ctx: LoweringContext, adj: Value, normalization: str) -> Value:
    """The off-diagonal entries of ``L_hat`` on ``adj`` (already without self-loops), per edge."""

    def build() -> Value:
        if normalization == "sym":
            inv = ctx.emit("rsqrt_or_zero", [degree(ctx, adj, end="src")])
            src = ctx.emit("gather", [inv, adj], end="src")
            weight = ctx.emit("mul", [src, ctx.emit("gather", [inv, adj], end="dst")])
        else:  # rw; a node with no out-edges has none of its edges here either
            weight = ctx.emit("gather", [inverse_degree(ctx, adj, end="src"), adj], end="src")
        return ctx.emit("neg", [weight])

    return ctx.memo(("laplacian", adj, normalization), build)


def lower(ctx: LoweringContext, conv: ChebConv, qualname: str, x: Value, adj: Value) -> Value:
    if conv.normalization not in ("sym", "rw"):
        raise unsupported(conv, qualname, f"has normalization={conv.normalization!r}; only 'sym' and 'rw' "
                          "are supported (the unnormalised Laplacian's scale depends on the largest degree)")
    reduce = reduce_of(conv, qualname)
    adj = without_self_loops(ctx, adj)
    weight = laplacian_edge_weight(ctx, adj, conv.normalization)

    def linear(k: int, h: Value) -> Value:
        return ctx.linear_module(conv.lins[k], qualify(qualname, f"lins.{k}"), h)

    out = linear(0, x)
    prev, cur = x, x
    for k in range(1, len(conv.lins)):
        nxt = propagate(ctx, cur, adj, reduce, weight)
        if k > 1:
            nxt = ctx.emit("sub", [ctx.emit("mul", [nxt, ctx.scalar(2.0)]), prev])
        out = ctx.emit("add", [out, linear(k, nxt)])
        prev, cur = cur, nxt
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
