"""ChebConv: ``sum_k lins[k](T_k(L_hat) x) + b`` with the Chebyshev recurrence ``T_k = 2 L_hat T_{k-1} - T_{k-2}``.

PyG 2.8 scales the Laplacian by ``lambda_max = 2 max(L)``. For the ``sym`` and ``rw``
normalisations the largest entry of ``L`` is its unit diagonal, so ``lambda_max = 2`` on every
graph, ``L_hat = L - I`` has a zero diagonal, and ``L_hat x`` is one propagation over the graph
without self-loops with edge values ``-d^-1/2[src] d^-1/2[dst]`` (``sym``) or ``-d^-1[src]``
(``rw``), ``d`` counting out-edges (PyG's ``get_laplacian`` sums by ``edge_index[0]``). The
unnormalised Laplacian's ``lambda_max`` depends on the largest degree, and is not lowered.

With edge weights ``w`` (self-loops' dropped), ``d`` sums them and each off-diagonal entry is
scaled by ``w``. A negative weight can make an off-diagonal entry the largest, so ``lambda_max`` is
computed per graph, ``m = max(1, max_e L_e)``, and ``L_hat x = propagate(x, L / m) + (1 / m - 1) x``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import ChebConv

from gnncc.frontend.pyg.convs.common import (
    degree,
    edge_weight_of,
    inverse_degree,
    propagate,
    reduce_of,
    unsupported,
    weighted_inverse,
    without_self_loops,
)
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def laplacian_edge_weight(ctx: LoweringContext, adj: Value, normalization: str, edge: Value | None = None) -> Value:
    """The off-diagonal entries of ``L`` on ``adj`` (already without self-loops), per edge, for edge
    weights ``edge`` of ``adj`` (all ones when None)."""

    def build() -> Value:
        deg = degree(ctx, adj, "src", edge)
        if normalization == "sym":
            inv = ctx.emit("rsqrt_or_zero", [deg]) if edge is None else weighted_inverse(ctx, deg, root=True)
            src = ctx.emit("gather", [inv, adj], end="src")
            weight = ctx.emit("mul", [src, ctx.emit("gather", [inv, adj], end="dst")])
        elif edge is None:  # rw; a node with no out-edges has none of its edges here either
            weight = ctx.emit("gather", [inverse_degree(ctx, adj, end="src"), adj], end="src")
        else:  # rw, weighted: 1 / d, d a sum of weights
            weight = ctx.emit("gather", [weighted_inverse(ctx, deg, root=False), adj], end="src")
        if edge is not None:
            weight = ctx.emit("mul", [weight, edge])
        return ctx.emit("neg", [weight])

    return ctx.memo(("laplacian", adj, normalization, edge), build)


def _scaled_laplacian(ctx: LoweringContext, adj: Value, normalization: str,
                      edge: Value | None) -> tuple[Value, Value | None]:
    """``L_hat = 2 L / lambda_max - I`` on ``adj`` without self-loops: its edge values and its diagonal
    (a one-element ``1 / m - 1``; None without edge weights, where ``m`` is 1 and the diagonal 0)."""
    entries = laplacian_edge_weight(ctx, adj, normalization, edge)
    if edge is None:
        return entries, None

    def build() -> tuple[Value, Value]:
        # m = max(1, max_e L_e) (the unit diagonal is among PyG's entries), through each node's largest
        # in-edge entry, so that a graph without edges needs no empty reduction
        per_node = ctx.emit("maximum", [ctx.emit("scatter", [entries, adj], reduce="max"), ctx.scalar(1.0)])
        largest = ctx.emit("reduce_max", [per_node], axis=-1)
        inverse = ctx.emit("div", [ctx.scalar(1.0), largest])
        return ctx.emit("mul", [entries, inverse]), ctx.emit("sub", [inverse, ctx.scalar(1.0)])

    return ctx.memo(("scaled_laplacian", adj, normalization, edge), build)


def lower(ctx: LoweringContext, conv: ChebConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if conv.normalization not in ("sym", "rw"):
        raise unsupported(conv, qualname, f"has normalization={conv.normalization!r}; only 'sym' and 'rw' "
                          "are supported (the unnormalised Laplacian's scale depends on the largest degree)")
    reduce = reduce_of(conv, qualname)
    edge = edge_weight_of(conv, qualname, edge)
    loop_free = without_self_loops(ctx, adj)
    if edge is not None:
        edge = ctx.memo(("loop_free_values", edge, loop_free),
                        lambda: ctx.emit("graph.loop_free_values", [edge, adj, loop_free]))
    adj = loop_free
    weight, diagonal = _scaled_laplacian(ctx, adj, conv.normalization, edge)

    def apply(h: Value) -> Value:  # L_hat h
        out = propagate(ctx, h, adj, reduce, weight)
        return out if diagonal is None else ctx.emit("add", [out, ctx.emit("mul", [h, diagonal])])

    def linear(k: int, h: Value) -> Value:
        return ctx.linear_module(conv.lins[k], qualify(qualname, f"lins.{k}"), h)

    out = linear(0, x)
    prev, cur = x, x
    for k in range(1, len(conv.lins)):
        nxt = apply(cur)
        if k > 1:
            nxt = ctx.emit("sub", [ctx.emit("mul", [nxt, ctx.scalar(2.0)]), prev])
        out = ctx.emit("add", [out, linear(k, nxt)])
        prev, cur = cur, nxt
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
