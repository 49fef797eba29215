"""Helpers shared by the conv lowerings: aggregation kind, self-loops, message passing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import MaxAggregation, MeanAggregation, SumAggregation

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg.values import Param, qualify
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


def self_loop_values(ctx: LoweringContext, values: Value, adj: Value, fill: float | str,
                     reuse_existing: bool = False, keep_existing: bool = False) -> tuple[Value, Value]:
    """``adj`` with self-loops (``with_self_loops``) and ``values``, an edge tensor of ``adj``, carried
    onto its edges, the new loops filled by ``fill`` (see ``Adjacency.self_loop_values``)."""
    looped = with_self_loops(ctx, adj, keep_existing)
    return looped, ctx.memo(
        ("self_loop_values", values, looped, fill, reuse_existing),
        lambda: ctx.emit("graph.self_loop_values", [values, adj, looped], fill=fill, reuse_existing=reuse_existing,
                         keep_existing=keep_existing),
    )


def edge_weight_of(conv: MessagePassing, qualname: str, edge: Value | None) -> Value | None:
    """The layer's ``edge_weight`` argument, which must be one number per edge."""
    if edge is not None and edge.type.rank != 1:
        raise unsupported(conv, qualname, f"takes edge weights of shape [E], got edge data {edge.type}; "
                          "pass one weight per edge (edge_weight), not edge features")
    return edge


def edge_features_of(ctx: LoweringContext, conv: MessagePassing, qualname: str, edge: Value | None,
                     width: int) -> Value:
    """The layer's ``edge_attr`` argument as ``[E, width]`` features (``[E]`` as one feature): what its
    ``edge_dim=width`` needs."""
    if edge is None:
        raise unsupported(conv, qualname, f"has edge_dim={width}, which needs edge features: call it as "
                          "conv(x, edge_index, edge_attr) on a graph with edge_attr")
    if edge.type.rank == 1:
        edge = ctx.emit("reshape", [edge], shape=[-1, 1])
    if edge.type.shape[1] != width:
        raise unsupported(conv, qualname, f"has edge_dim={width} but is given edge features {edge.type}")
    return edge


def added_edge_features(ctx: LoweringContext, conv: MessagePassing, qualname: str, messages: Value, edge: Value,
                        lin_name: str) -> Value:
    """``messages + e_ji`` (GINEConv's and GENConv's ``x_j + e_ji``): the edge features through the layer's
    ``lin_name`` Linear where it has one (its ``edge_dim``), else as given; either way as wide as the
    messages."""
    lin = getattr(conv, lin_name, None)
    if lin is not None:
        edge = edge_features_of(ctx, conv, qualname, edge, lin.weight.shape[1])
        edge = ctx.linear_module(lin, qualify(qualname, lin_name), edge)
    if edge.type.rank != 2 or edge.type.shape[1] != messages.type.shape[1]:
        raise unsupported(conv, qualname, f"adds edge features {edge.type} to messages {messages.type}: their "
                          "widths differ; set the layer's edge_dim")
    return ctx.emit("add", [messages, edge])


def degree(ctx: LoweringContext, adj: Value, end: str = "dst", weight: Value | None = None) -> Value:
    """Edges per node of ``adj`` (``[N]``): in-degrees, or out-degrees with ``end="src"``; with edge
    weights ``weight`` (``[E]`` of ``adj``) the sums of the weights."""
    operands = [adj] if weight is None else [adj, weight]
    return ctx.memo(("degree", adj, end, weight), lambda: ctx.emit("graph.degree", operands, end=end))


def weighted_inverse(ctx: LoweringContext, deg: Value, root: bool) -> Value:
    """PyG's ``deg.pow(-0.5)`` (``root``) or ``1 / deg`` for weighted degrees, infinities masked to 0: 0
    where ``deg`` is 0, and as PyG for a negative sum of weights (NaN under the root, ``1 / deg`` else)."""

    def build() -> Value:
        if root:  # rsqrt_or_zero gives 0 for a negative degree; 0 * sqrt(deg) turns that into PyG's NaN
            nan_if_negative = ctx.emit("mul", [ctx.emit("sqrt", [deg]), ctx.scalar(0.0)])
            return ctx.emit("add", [ctx.emit("rsqrt_or_zero", [deg]), nan_if_negative])
        nonzero = ctx.emit("step", [ctx.emit("abs", [deg])])
        return ctx.emit("div", [nonzero, ctx.emit("add", [deg, ctx.emit("sub", [ctx.scalar(1.0), nonzero])])])

    return ctx.memo(("weighted_inverse", deg, root), build)


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


def layer_name(conv: MessagePassing, qualname: str) -> str:
    """How errors name a layer: its place in the model and its type (the type alone for a bare layer)."""
    return f"layer '{qualname}' ({type(conv).__name__})" if qualname else f"layer {type(conv).__name__}"


def unsupported(conv: MessagePassing, qualname: str, what: str) -> UnsupportedError:
    """The error for a layer option gnncc does not lower, naming the layer."""
    return UnsupportedError(f"{layer_name(conv, qualname)} {what}")


def submodule(conv: MessagePassing, qualname: str, name: str) -> torch.nn.Module:
    """``conv.<name>`` (GIN's and EdgeConv's ``nn``, ResGated's ``act``), which must be a module to lower."""
    module = getattr(conv, name)
    if not isinstance(module, torch.nn.Module):
        raise unsupported(conv, qualname, f"has {name}={module!r}; only a torch.nn.Module is supported")
    return module


def activation(ctx: LoweringContext, conv: MessagePassing, qualname: str, x: Value, name: str = "act") -> Value:
    """``conv.<name>(x)`` for a layer's optional activation (ARMAConv's, FiLMConv's ``act``): ``x`` as it is
    when the layer has none, else lowered with the general module rules (it must be a module)."""
    if getattr(conv, name) is None:
        return x
    return ctx.call_module(submodule(conv, qualname, name), qualify(qualname, name), [x], {})


def concat_linear(ctx: LoweringContext, lin: torch.nn.Module, qualname: str, adj: Value,
                  parts: list[tuple[str, Value, str | None]]) -> Value:
    """``lin(cat(parts))`` per edge of ``adj`` without forming the ``[E, ...]`` concatenation: each part
    ``(name, value, end)`` goes through its block of the weight's columns (the constant
    ``<qualname>.weight.<name>``), a node part (``end`` "src" or "dst") on the nodes and then gathered, an
    edge part (``end`` None, ``[E, D]``) as it is, folded per graph; the bias joins the first part."""
    widths = [value.type.shape[1] for _, value, _ in parts]
    if sum(widths) != lin.weight.shape[1]:
        raise UnsupportedError(f"Linear '{qualname}' takes {lin.weight.shape[1]} features, but its input "
                               f"concatenates {sum(widths)} ({', '.join(name for name, _, _ in parts)})")
    out, start = None, 0
    for (name, value, end), width in zip(parts, widths):
        block = Param(qualify(qualname, f"weight.{name}"), lin.weight[:, start:start + width])
        bias = None if out is not None or lin.bias is None else Param(qualify(qualname, "bias"), lin.bias)
        term = ctx.linear(value, block, bias)
        if end is not None:
            term = ctx.emit("gather", [term, adj], end=end)
        out, start = term if out is None else ctx.emit("add", [out, term]), start + width
    return out


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


def _loop_fill(conv: MessagePassing, qualname: str) -> float | str:
    """The attention convs' ``fill_value`` for the edge features of new self-loops, as the IR takes it."""
    fill = conv.fill_value
    if isinstance(fill, torch.Tensor) and fill.numel() == 1:
        return float(fill)
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        return float(fill)
    if fill in ("mean", "max", "min", "add", "sum"):
        return "sum" if fill == "add" else fill
    raise unsupported(conv, qualname, f"has fill_value={fill!r}; only a number or 'mean', 'add', 'max', 'min' "
                      "are supported for the edge features of its self-loops")


def project_edges(ctx: LoweringContext, conv: MessagePassing, qualname: str, adj: Value,
                  edge: Value | None) -> tuple[Value, Value | None]:
    """The attention convs' (GATConv, GATv2Conv) adjacency, self-loops re-added when the layer adds
    them, and its edge features through ``lin_edge`` per head, ``[E, heads, out_channels]`` (None
    when ``edge`` is None). New loops get features by ``fill_value``, as in PyG."""
    if edge is not None and conv.lin_edge is None:
        raise unsupported(conv, qualname, "is given edge features but has no edge_dim to project them")
    if edge is None:
        return (with_self_loops(ctx, adj) if conv.add_self_loops else adj), None
    edge = edge_features_of(ctx, conv, qualname, edge, conv.lin_edge.weight.shape[1])
    if conv.add_self_loops:
        adj, edge = self_loop_values(ctx, edge, adj, _loop_fill(conv, qualname))
    projected = ctx.linear_module(conv.lin_edge, qualify(qualname, "lin_edge"), edge)
    return adj, ctx.emit("reshape", [projected], shape=[-1, conv.heads, conv.out_channels])


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
