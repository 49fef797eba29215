"""Lowerings of PyG message-passing layers, one module per layer, dispatched on exact type.

Each lowering takes ``(ctx, conv, qualname, x, adj[, x_0])`` and emits gather/scatter-level IR;
graph-only work (self-loops, degrees, normalisation) is IR too, for constant folding.
Subclasses are not matched: they may override ``message`` or ``forward``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch_geometric.nn import (
    APPNP,
    AGNNConv,
    ARMAConv,
    CGConv,
    ChebConv,
    ClusterGCNConv,
    EdgeConv,
    FAConv,
    FastRGCNConv,
    FiLMConv,
    GATConv,
    GatedGraphConv,
    GATv2Conv,
    GCN2Conv,
    GCNConv,
    GENConv,
    GeneralConv,
    GINConv,
    GINEConv,
    GraphConv,
    LEConv,
    LGConv,
    MessagePassing,
    MixHopConv,
    NNConv,
    PNAConv,
    ResGatedGraphConv,
    RGCNConv,
    SAGEConv,
    SGConv,
    SimpleConv,
    SSGConv,
    TAGConv,
    TransformerConv,
)

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg.convs import (
    agnn,
    appnp,
    arma,
    cg,
    cheb,
    cluster_gcn,
    edge_conv,
    fa,
    film,
    gat,
    gated_graph,
    gatv2,
    gcn,
    gcn2,
    gen,
    general,
    gin,
    gine,
    graph_conv,
    le,
    lg,
    mixhop,
    nn_conv,
    pna,
    res_gated,
    rgcn,
    sage,
    sgconv,
    simple,
    ssg,
    tag,
    transformer,
)
from gnncc.frontend.pyg.convs.common import layer_name
from gnncc.ir.function import Value
from gnncc.ir.types import AdjType, TensorType

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

ConvLowering = Callable[..., Value]


WidthOf = Callable[[torch.nn.Module], "int | None"]


def _always_keeps_width(conv: MessagePassing) -> bool:
    return True


def _channels(conv: MessagePassing, width_of: WidthOf) -> int:
    return conv.channels  # GCN2Conv, FAConv: one width in and out


@dataclass(frozen=True)
class ConvRule:
    """How to lower one layer type: ``lower(ctx, conv, qualname, x, adj, *more[, edge=...])``.

    ``features`` names the node-feature arguments of the layer's ``forward`` (``x`` first, then
    e.g. GCN2Conv's ``x_0``); its ``edge_index`` becomes ``adj``. ``edge`` names the argument that
    takes edge data (``edge_weight`` or ``edge_attr``), passed to ``lower`` as ``edge=`` (None when not
    given) for the layers that read it (``edge_type``: integer relation ids); every other argument
    (sizes, ...) must be left ``None``.

    For inferring the model's input width: ``in_width(conv, width_of)`` is the width of ``x`` the
    layer expects, where the generic rule (``in_channels``, else the first sub-module's input
    width) is wrong; ``keeps_width(conv)`` is true for layers without weights whose output is as
    wide as ``x``, so the width is read from the layer after them.
    """

    lower: ConvLowering
    features: tuple[str, ...] = ("x",)
    edge: str | None = None
    in_width: Callable[[Any, WidthOf], int | None] | None = None
    keeps_width: Callable[[Any], bool] | None = None


def _no_fixed_width(conv: MessagePassing, width_of: WidthOf) -> None:
    return None  # GatedGraphConv: x of any width up to out_channels, zero-padded


def _cg_width(conv: CGConv, width_of: WidthOf) -> int:
    channels = conv.channels
    return channels if isinstance(channels, int) else channels[1]  # lin_f reads [x_i, x_j(, e)]


def _edge_conv_width(conv: EdgeConv, width_of: WidthOf) -> int | None:
    width = width_of(conv.nn) if isinstance(conv.nn, torch.nn.Module) else None
    return width // 2 if width is not None else None  # nn reads [x_i, x_j - x_i]


def _nn_conv_width(conv: NNConv, width_of: WidthOf) -> int | None:
    return nn_conv.x_width(conv)  # not the width of nn, which reads the edge features


CONVS: dict[type[MessagePassing], ConvRule] = {
    AGNNConv: ConvRule(agnn.lower, keeps_width=_always_keeps_width),
    APPNP: ConvRule(appnp.lower, edge="edge_weight", keeps_width=_always_keeps_width),
    ARMAConv: ConvRule(arma.lower, edge="edge_weight"),
    CGConv: ConvRule(cg.lower, edge="edge_attr", in_width=_cg_width),
    ChebConv: ConvRule(cheb.lower, edge="edge_weight"),
    ClusterGCNConv: ConvRule(cluster_gcn.lower),
    EdgeConv: ConvRule(edge_conv.lower, in_width=_edge_conv_width),
    FAConv: ConvRule(fa.lower, ("x", "x_0"), in_width=_channels),
    FastRGCNConv: ConvRule(rgcn.lower, edge="edge_type"),
    FiLMConv: ConvRule(film.lower, edge="edge_type"),
    GATConv: ConvRule(gat.lower, edge="edge_attr"),
    GATv2Conv: ConvRule(gatv2.lower, edge="edge_attr"),
    GatedGraphConv: ConvRule(gated_graph.lower, edge="edge_weight", in_width=_no_fixed_width),
    GCN2Conv: ConvRule(gcn2.lower, ("x", "x_0"), edge="edge_weight", in_width=_channels),
    GCNConv: ConvRule(gcn.lower, edge="edge_weight"),
    GeneralConv: ConvRule(general.lower, edge="edge_attr"),
    GENConv: ConvRule(gen.lower, edge="edge_attr"),
    GINConv: ConvRule(gin.lower),
    GINEConv: ConvRule(gine.lower, edge="edge_attr"),
    GraphConv: ConvRule(graph_conv.lower, edge="edge_weight"),
    LEConv: ConvRule(le.lower, edge="edge_weight"),
    LGConv: ConvRule(lg.lower, edge="edge_weight", keeps_width=_always_keeps_width),
    MixHopConv: ConvRule(mixhop.lower, edge="edge_weight"),
    NNConv: ConvRule(nn_conv.lower, edge="edge_attr", in_width=_nn_conv_width),
    PNAConv: ConvRule(pna.lower, edge="edge_attr"),
    ResGatedGraphConv: ConvRule(res_gated.lower, edge="edge_attr"),
    RGCNConv: ConvRule(rgcn.lower, edge="edge_type"),
    SAGEConv: ConvRule(sage.lower),
    SGConv: ConvRule(sgconv.lower, edge="edge_weight"),
    SimpleConv: ConvRule(simple.lower, edge="edge_weight", keeps_width=lambda conv: conv.combine_root != "cat"),
    SSGConv: ConvRule(ssg.lower, edge="edge_weight"),
    TAGConv: ConvRule(tag.lower, edge="edge_weight"),
    TransformerConv: ConvRule(transformer.lower, edge="edge_attr"),
}


def in_width(conv: MessagePassing, width_of: WidthOf) -> int | None:
    """The width of ``x`` that ``conv`` expects, or None where it does not fix one."""
    rule = CONVS.get(type(conv))
    if rule is not None and rule.in_width is not None:
        return rule.in_width(conv, width_of)
    if rule is not None and rule.keeps_width is not None:
        return None
    return width_of(conv)


def keeps_width(conv: MessagePassing) -> bool:
    """Whether ``conv`` has no weights and returns rows as wide as its ``x``."""
    rule = CONVS.get(type(conv))
    return rule is not None and rule.keeps_width is not None and rule.keeps_width(conv)


def lower_conv(ctx: LoweringContext, conv: MessagePassing, qualname: str, args: Any, kwargs: Any) -> Value:
    """Check the call ``conv(x, [x_0, ]edge_index[, edge data])`` and lower it with the layer's registered
    rule; edge data must be an edge tensor of ``edge_index`` (the graph's, or computed from it)."""
    name = layer_name(conv, qualname)
    rule = CONVS.get(type(conv))
    if rule is None:
        raise UnsupportedError(
            f"{name} is an unsupported message-passing layer; supported layers: "
            f"{', '.join(sorted(t.__name__ for t in CONVS))}"
        )
    if conv.flow != "source_to_target":
        raise UnsupportedError(f"{name} uses flow={conv.flow!r}; only 'source_to_target' is supported")
    call = f"conv({', '.join((*rule.features, 'edge_index', *([rule.edge] if rule.edge else [])))})"
    try:
        bound = inspect.signature(conv.forward).bind(*args, **kwargs)
    except TypeError as e:
        raise UnsupportedError(f"{name} must be called as {call}: {e}") from None
    arguments = dict(bound.arguments)
    taken = (*rule.features, "edge_index", rule.edge)
    extra = [k for k, v in arguments.items() if k not in taken and v is not None]
    if extra or any(arguments.get(k) is None for k in (*rule.features, "edge_index")):
        raise UnsupportedError(
            f"{name} must be called as {call}; extra arguments {extra} are not supported"
            + ("" if rule.edge else " (this layer is lowered without edge weights or features)")
        )
    features = [arguments[k] for k in rule.features]
    for key, x in zip(rule.features, features):
        if not isinstance(x, Value) or not isinstance(x.type, TensorType) or x.type.rank != 2:
            raise UnsupportedError(f"{name} needs node features {key} of shape [N, F], got {getattr(x, 'type', x)!r}")
    adj = arguments["edge_index"]
    if not isinstance(adj, Value) or not isinstance(adj.type, AdjType):
        raise UnsupportedError(f"{name} needs the model's edge_index as its edge_index argument")
    if rule.edge is None:
        return rule.lower(ctx, conv, qualname, features[0], adj, *features[1:])
    edge = arguments.get(rule.edge)
    if edge is not None and (not isinstance(edge, Value) or not isinstance(edge.type, TensorType)
                             or edge.type.rank not in (1, 2) or edge.type.shape[0] != adj.type.nnz):
        raise UnsupportedError(
            f"{name} needs {rule.edge} of shape [E] or [E, D] with one row per edge of edge_index "
            f"(E={adj.type.nnz}), computed from the graph's edge data; got {getattr(edge, 'type', edge)!r}"
        )
    if edge is not None and (rule.edge == "edge_type") != (edge.type.dtype == "int64"):
        raise UnsupportedError(
            f"{name} reads integer relation ids as edge_type: compile it with gnncc.Graph(edge_index, "
            f"edge_type=...), not with float edge data {edge.type}" if rule.edge == "edge_type" else
            f"{name} reads float edge data as {rule.edge}, but was given the graph's edge types {edge.type}; "
            "compile it with the graph's edge_weight or edge_attr instead"
        )
    return rule.lower(ctx, conv, qualname, features[0], adj, *features[1:], edge=edge)


def edge_argument(conv: MessagePassing) -> str | None:
    """The name of the argument through which ``conv`` reads edge data, if it is lowered with one."""
    rule = CONVS.get(type(conv))
    return None if rule is None else rule.edge
