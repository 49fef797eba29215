"""GCNConv: ``out = D^-1/2 (A + I) D^-1/2 (x W) + b`` (PyG's ``gcn_norm`` then propagate).

With edge weights, ``A`` holds them and ``D`` sums them; a node's self-loop keeps the weight of
the loop it had, else gets ``fill_value`` (2 with ``improved``, else 1). Without edge weights PyG's
``add_remaining_self_loops`` ignores ``fill_value``, so ``improved=True`` gives the same result
as ``improved=False``; both lower alike. ``cached`` only saves PyG recomputing the
normalisation; here it is graph-only IR that constant folding evaluates once per graph anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GCNConv, MessagePassing

from gnncc.frontend.pyg.convs.common import (
    edge_weight_of,
    propagate,
    reduce_of,
    self_loop_values,
    weighted_inverse,
    with_self_loops,
)
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def gcn_edge_weight(ctx: LoweringContext, adj: Value, weight: Value | None = None) -> Value:
    """``deg^-1/2[src] * w * deg^-1/2[dst]`` per edge, with ``deg`` the in-degrees on ``adj`` weighted
    by ``weight`` (``[E]`` of ``adj``; all ones when None)."""

    def build() -> Value:
        ones = ctx.emit("graph.edge_full", [adj], value=1.0) if weight is None else weight
        deg = ctx.emit("scatter", [ones, adj], reduce="sum")
        dis = ctx.emit("rsqrt_or_zero", [deg]) if weight is None else weighted_inverse(ctx, deg, root=True)
        src = ctx.emit("gather", [dis, adj], end="src")
        dst = ctx.emit("gather", [dis, adj], end="dst")
        norm = ctx.emit("mul", [src, dst])
        return norm if weight is None else ctx.emit("mul", [norm, weight])

    return ctx.memo(("gcn_norm", adj, weight), build)


def gcn_normalised(ctx: LoweringContext, adj: Value, self_loops: bool, weight: Value | None = None,
                   fill: float = 1.0) -> tuple[Value, Value]:
    """GCN's normalised adjacency: ``adj`` with one self-loop per node re-added when ``self_loops``, and
    its symmetric edge values (shared by the layers built on ``gcn_norm``). ``weight`` are the edge
    weights of ``adj``, if any: existing loops keep theirs, new loops get ``fill``."""
    if self_loops and weight is not None:
        adj, weight = self_loop_values(ctx, weight, adj, fill, reuse_existing=True)
    elif self_loops:
        adj = with_self_loops(ctx, adj)
    return adj, gcn_edge_weight(ctx, adj, weight)


def gcn_weights(ctx: LoweringContext, conv: MessagePassing, qualname: str, adj: Value, edge: Value | None,
                self_loops: bool, fill: float = 1.0) -> tuple[Value, Value | None]:
    """The adjacency and edge values a layer built on ``gcn_norm`` propagates with: its ``edge_weight``
    (``edge``) GCN-normalised, self-loops re-added when ``self_loops`` (see ``gcn_normalised``); the
    plain adjacency and weights for a layer with ``normalize=False`` (layers without that option always
    normalise)."""
    weight = edge_weight_of(conv, qualname, edge)
    if not getattr(conv, "normalize", True):
        return adj, weight
    return gcn_normalised(ctx, adj, self_loops, weight, fill)


def lower(ctx: LoweringContext, conv: GCNConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    h = ctx.linear_module(conv.lin, qualify(qualname, "lin"), x)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, conv.add_self_loops, 2.0 if conv.improved else 1.0)
    out = propagate(ctx, h, adj, reduce, weight)
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
