"""NNConv (edge-conditioned conv, the MPNN of Gilmer et al.): ``aggr_j x_j W(e_ji) + x_i Θ + b``.

``W(e_ji)`` is the layer's ``nn`` on the edge's features viewed as an ``[in, out]`` matrix. ``nn``
reads edge data alone, so it is lowered with the general module rules on the edge features and
folded once per graph (an exported library recomputes it for each graph it serves). Each message is
then a vector-matrix product, lowered as ``reduce_sum(x_j[:, :, None] * W, axis=1)`` over
``[E, in, out]`` (the default passes make it one ``reduce_dot``), and aggregated with sum, mean or
max; the root term ``lin`` runs on the nodes.

Memory: the folded weights are ``[E, in * out]`` floats per layer (``4 * E * in * out`` bytes), held
for as long as the compiled model (with the optional passes off, each call also forms the
``[E, in, out]`` product): fine for molecules, large for big graphs (1M edges with 64 channels in
and out take 16 GiB per layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import NNConv

from gnncc.errors import IRError
from gnncc.frontend.pyg.convs.common import reduce_of, submodule, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def x_width(conv: NNConv) -> int | None:
    """The width of ``x`` (as ``x_j`` in the messages): ``in_channels``, the first of a pair; None where lazy."""
    return conv.in_channels_l if conv.in_channels_l > 0 else None


def lower(ctx: LoweringContext, conv: NNConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if isinstance(conv.in_channels, tuple) and conv.in_channels[0] != conv.in_channels[1]:
        raise unsupported(conv, qualname, f"has in_channels={conv.in_channels}, which needs a pair of node "
                          "feature tensors (bipartite); only one x is supported")
    width, out_width = x_width(conv), conv.out_channels
    if width is None:  # PyG's own view(-1, -1, out) fails too
        raise unsupported(conv, qualname, f"has in_channels={conv.in_channels}; it needs the width of x to view "
                          "its nn's output as [in_channels, out_channels] matrices")
    reduce = reduce_of(conv, qualname)
    nn = submodule(conv, qualname, "nn")
    if edge is None:
        raise unsupported(conv, qualname, "needs edge features: call it as conv(x, edge_index, edge_attr) on a "
                          "graph with edge_attr")
    if edge.type.rank == 1:
        edge = ctx.emit("reshape", [edge], shape=[-1, 1])
    try:
        weights = ctx.call_module(nn, qualify(qualname, "nn"), [edge], {})
    except IRError as e:  # e.g. its first Linear is not as wide as the edge features
        raise unsupported(conv, qualname, f"cannot apply its nn to edge features {edge.type}: {e}") from None
    if not isinstance(weights, Value) or weights.type.rank != 2 or weights.type.shape[1] != width * out_width:
        raise unsupported(conv, qualname, f"has an nn that maps edge features {edge.type} to "
                          f"{getattr(weights, 'type', weights)}; it must give [E, in_channels * out_channels] = "
                          f"[E, {width * out_width}]")
    weights = ctx.emit("reshape", [weights], shape=[-1, width, out_width])
    rows = ctx.emit("reshape", [ctx.emit("gather", [x, adj], end="src")], shape=[-1, width, 1])
    messages = ctx.emit("reduce_sum", [ctx.emit("mul", [rows, weights])], axis=1)
    out = ctx.emit("scatter", [messages, adj], reduce=reduce)
    if conv.root_weight:
        out = ctx.emit("add", [out, ctx.linear_module(conv.lin, qualify(qualname, "lin"), x)])
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
