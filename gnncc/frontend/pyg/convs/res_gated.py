"""ResGatedGraphConv: ``sum_j act(k_i + q_j) * v_j + lin_skip(x_i) + b`` (residual gated graph conv).

The gate is one value per edge and feature, so the messages are ``[E, F]`` tensors: the gate
sum is an SDDMM, the product and the reduction stay gather/scatter. ``act`` is lowered with the
general module rules; a layer with ``edge_dim`` (which then requires edge features) is rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import ResGatedGraphConv

from gnncc.frontend.pyg.convs.common import reduce_of, submodule, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: ResGatedGraphConv, qualname: str, x: Value, adj: Value) -> Value:
    if conv.edge_dim is not None:
        raise unsupported(conv, qualname, f"has edge_dim={conv.edge_dim}, which needs edge features; "
                          "conv(x, edge_index) has none")
    act = submodule(conv, qualname, "act")
    reduce = reduce_of(conv, qualname)

    def project(name: str, end: str) -> Value:
        h = ctx.linear_module(getattr(conv, name), qualify(qualname, name), x)
        return ctx.emit("gather", [h, adj], end=end)

    gate = ctx.emit("add", [project("lin_key", "dst"), project("lin_query", "src")])
    gate = ctx.call_module(act, qualify(qualname, "act"), [gate], {})
    out = ctx.emit("scatter", [ctx.emit("mul", [gate, project("lin_value", "src")]), adj], reduce=reduce)
    if conv.root_weight:
        out = ctx.emit("add", [out, ctx.linear_module(conv.lin_skip, qualify(qualname, "lin_skip"), x)])
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
