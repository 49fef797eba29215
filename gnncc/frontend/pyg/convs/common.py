"""Helpers shared by the conv lowerings: aggregation kind, self-loops, message passing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import MaxAggregation, MeanAggregation, SumAggregation

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

_REDUCE = {SumAggregation: "sum", MeanAggregation: "mean", MaxAggregation: "max"}


def reduce_of(conv: MessagePassing, qualname: str) -> str:
    """The IR reduce kind of the layer's aggregation (PyG keeps it in ``aggr_module``)."""
    kind = _REDUCE.get(type(conv.aggr_module))
    if kind is None:
        raise unsupported(conv, qualname, f"aggregates with {type(conv.aggr_module).__name__}, which is "
                          "unsupported; only sum ('add'/'sum'), mean and max aggregation are")
    return kind


def with_self_loops(ctx: LoweringContext, adj: Value, keep_existing: bool = False) -> Value:
    """``adj`` with one self-loop per node added, its own dropped first (or kept), shared by every layer
    that asks."""
    return ctx.memo(
        ("add_self_loops", adj, keep_existing),
        lambda: ctx.emit("graph.add_self_loops", [adj], nnz_symbol=ctx.b.fresh_symbol(),
                         keep_existing=keep_existing),
    )


def without_self_loops(ctx: LoweringContext, adj: Value) -> Value:
    """``adj`` less its self-loops, shared by every layer that asks."""
    return ctx.memo(
        ("remove_self_loops", adj),
        lambda: ctx.emit("graph.remove_self_loops", [adj], nnz_symbol=ctx.b.fresh_symbol()),
    )


def degree(ctx: LoweringContext, adj: Value, end: str = "dst") -> Value:
    """Edges per node of ``adj`` (``[N]``): in-degrees, or out-degrees with ``end="src"``."""
    return ctx.memo(("degree", adj, end), lambda: ctx.emit("graph.degree", [adj], end=end))


def inverse_degree(ctx: LoweringContext, adj: Value, end: str = "dst") -> Value:
    """``1 / max(deg, 1)`` per node (``[N]``): ``1 / deg`` where a node has edges, 1 where it has none."""

    def build() -> Value:
        clamped = ctx.emit("maximum", [degree(ctx, adj, end), ctx.scalar(1.0)])
        return ctx.emit("div", [ctx.scalar(1.0), clamped])

    return ctx.memo(("inverse_degree", adj, end), build)


def scale_rows(ctx: LoweringContext, x: Value, per_node: Value) -> Value:
    """``x[v] * per_node[v]`` for ``x`` of ``[N, F]`` and ``per_node`` of ``[N]``."""
    column = ctx.memo(("column", per_node), lambda: ctx.emit("reshape", [per_node], shape=[-1, 1]))
    return ctx.emit("mul", [x, column])


def unsupported(conv: MessagePassing, qualname: str, what: str) -> UnsupportedError:
    """The error for a layer option gnncc does not lower, naming the layer."""
    return UnsupportedError(f"layer '{qualname}' ({type(conv).__name__}) {what}")


def submodule(conv: MessagePassing, qualname: str, name: str) -> torch.nn.Module:
    """``conv.<name>`` (GIN's and EdgeConv's ``nn``, ResGated's ``act``), which must be a module to lower."""
    module = getattr(conv, name)
    if not isinstance(module, torch.nn.Module):
        raise unsupported(conv, qualname, f"has {name}={module!r}; only a torch.nn.Module is supported")
    return module


def propagate(ctx: LoweringContext, x: Value, adj: Value, reduce: str, weight: Value | None = None) -> Value:
    """``out[v] = reduce_{e: dst[e]=v} weight[e] * x[src[e]]`` in gather/scatter form.

    ``weight`` is ``[E]`` or ``[E, H]``; it is reshaped to ``[E, 1]`` / ``[E, H, 1]`` to broadcast
    over the feature axis, the shape the canonicalisation pass turns into SpMM.
    """
    msg = ctx.emit("gather", [x, adj], end="src")
    if weight is not None:
        shape = [-1, *weight.type.shape[1:], *[1] * (msg.type.rank - weight.type.rank)]
        column = ctx.memo(("reshape", weight, *shape), lambda: ctx.emit("reshape", [weight], shape=shape))
        msg = ctx.emit("mul", [msg, column])
    return ctx.emit("scatter", [msg, adj], reduce=reduce)


def project_heads(ctx: LoweringContext, conv: MessagePassing, qualname: str, name: str, x: Value) -> Value:
    """``conv.<name>(x)`` viewed per head as ``[N, heads, out_channels]`` (GATConv, GATv2Conv)."""
    h = ctx.linear_module(getattr(conv, name), qualify(qualname, name), x)
    return ctx.emit("reshape", [h], shape=[x.type.shape[0], conv.heads, conv.out_channels])


def combine_heads(ctx: LoweringContext, conv: MessagePassing, qualname: str, out: Value, res: Value | None,
                  bias: bool = True) -> Value:
    """The tail of the attention convs: heads concatenated or averaged, then residual and (with
    ``bias``) the layer's bias."""
    if conv.concat:
        out = ctx.emit("reshape", [out], shape=[out.type.shape[0], conv.heads * conv.out_channels])
    else:
        out = ctx.emit("reduce_mean", [out], axis=1)
    if res is not None:
        out = ctx.emit("add", [out, res])
    if bias and conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
