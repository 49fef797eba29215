"""GCNConv: ``out = D^-1/2 (A + I) D^-1/2 (x W) + b`` (PyG's ``gcn_norm`` then propagate).

With ``edge_index`` input and no edge weights, PyG's ``add_remaining_self_loops`` ignores
``fill_value``, so ``improved=True`` gives the same result as ``improved=False``; both lower
alike. ``cached`` only saves PyG recomputing the normalisation; here it is graph-only IR
that constant folding evaluates once per graph anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import GCNConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, with_self_loops
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def gcn_edge_weight(ctx: LoweringContext, adj: Value) -> Value:
    """``deg^-1/2[src] * deg^-1/2[dst]`` per edge, with in-degrees counted on ``adj``."""

    def build() -> Value:
        ones = ctx.emit("graph.edge_full", [adj], value=1.0)
        deg = ctx.emit("scatter", [ones, adj], reduce="sum")
        dis = ctx.emit("rsqrt_or_zero", [deg])
        src = ctx.emit("gather", [dis, adj], end="src")
        dst = ctx.emit("gather", [dis, adj], end="dst")
        return ctx.emit("mul", [src, dst])

    return ctx.memo(("gcn_norm", adj), build)


def gcn_normalised(ctx: LoweringContext, adj: Value, self_loops: bool) -> tuple[Value, Value]:
    """GCN's normalised adjacency: ``adj`` with one self-loop per node re-added when ``self_loops``, and
    its symmetric edge values (shared by the layers built on ``gcn_norm``)."""
    adj = with_self_loops(ctx, adj) if self_loops else adj
    return adj, gcn_edge_weight(ctx, adj)


def lower(ctx: LoweringContext, conv: GCNConv, qualname: str, x: Value, adj: Value) -> Value:
    reduce = reduce_of(conv, qualname)
    h = ctx.linear_module(conv.lin, qualify(qualname, "lin"), x)
    if conv.normalize:
        adj, weight = gcn_normalised(ctx, adj, conv.add_self_loops)
        out = propagate(ctx, h, adj, reduce, weight)
    else:
        out = propagate(ctx, h, adj, reduce)
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
